"""Per-request context handed to the ChatKit server, the store and the agent tools."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# User ids become part of every DynamoDB key: a conservative alphabet that still admits the
# `sub` formats of Cognito (UUID), Auth0 (`auth0|...`), Clerk (`user_...`) and e-mail claims.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:|+\-]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)


def is_valid_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


@runtime_checkable
class TurnStop(Protocol):
    """A streamed turn's way to learn that its user pressed Stop (chat/stop.py)."""

    def listen_to(self, thread_id: str) -> None:
        """Listen for stop requests of the turn's thread from now on."""
        ...

    async def before_tool(self) -> None:
        """Return when the turn may start a tool; never returns once it was stopped."""
        ...


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking. `user_id` only ever comes from a verified token.

    `scope` is the store's memory of the current request (None outside one: the store then
    reads and writes through every time). Opaque here, a `store.request_scope.RequestScope`
    there: this module stays light enough for the session function.
    """

    user_id: str
    scope: object | None = None
    # What the dashboard shows (agent/page_context.py): untrusted, never identity.
    page_context: tuple[tuple[str, str], ...] = ()
    # A streamed turn that offers Stop listens here; None where it cannot be stopped.
    stop: TurnStop | None = None
