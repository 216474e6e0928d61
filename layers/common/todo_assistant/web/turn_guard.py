"""What a ChatKit request must pass before it may run the model.

The message length is checked here, after the request is parsed and its user verified and
before the ChatKit server writes anything. The turn rate limit is counted by the server, in the
same transaction as the user's message (`TodoChatKitServer.process`); its refusal,
`RateLimited`, becomes the 429 with `Retry-After` below. Either refusal is a plain JSON 4xx.
"""

from __future__ import annotations

from chatkit.types import (
    ChatKitReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
)

from todo_assistant.limits import RateLimited
from todo_assistant.web.errors import ApiError


def message_chars(request: ChatKitReq) -> int:
    """Characters of text in a new user message (0 for every other request)."""
    if not isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        return 0
    return sum(len(getattr(part, "text", "")) for part in request.params.input.content)


def rate_limit_error(refused: RateLimited) -> ApiError:
    return ApiError(429, "rate_limited", refused.message, {"Retry-After": str(refused.retry_after)})


def check_message_length(request: ChatKitReq, max_message_chars: int) -> None:
    chars = message_chars(request)
    if chars > max_message_chars:
        raise ApiError(
            400,
            "message_too_long",
            f"The message has {chars} characters; at most {max_message_chars} are accepted.",
        )
