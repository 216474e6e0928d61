"""Per-request context handed to the ChatKit server, the store and the agent tools."""

from __future__ import annotations

import re
from dataclasses import dataclass

# User ids become part of every DynamoDB key: a conservative alphabet that still admits the
# `sub` formats of Cognito (UUID), Auth0 (`auth0|...`), Clerk (`user_...`) and e-mail claims.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:|+\-]{1,128}$"
_USER_ID = re.compile(USER_ID_PATTERN)


def is_valid_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking. `user_id` only ever comes from a verified token."""

    user_id: str
