"""Per-request context handed to the ChatKit server, the store and the agent tools."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from todo_assistant.limits import RateLimiter

# User ids become part of every DynamoDB key: a conservative alphabet that still admits the
# `sub` formats of Cognito (UUID), Auth0 (`auth0|...`), Clerk (`user_...`) and e-mail claims.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:|+\-]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)


def is_valid_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


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

    def for_request(
        self,
        *,
        turn: bool,
        turn_limiter: RateLimiter | None = None,
        overlap_opening: bool = False,
    ) -> RequestContext:
        """The same user, with a fresh scope for one request (`turn_limiter`: counted by the
        write of the request's user message; `overlap_opening`: read the thread while that
        message is written)."""
        from todo_assistant.store.request_scope import RequestScope

        scope = RequestScope(turn=turn, turn_limiter=turn_limiter, overlap_opening=overlap_opening)
        return replace(self, scope=scope)
