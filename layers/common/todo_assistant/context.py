"""Per-request context handed to the ChatKit server, the store and the agent tools."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking. `user_id` only ever comes from a verified token."""

    user_id: str
