"""What a ChatKit request must pass before it may run the model: message length, rate limit.

Both checks run after the request is parsed and its user verified, and before the ChatKit
server writes anything; a refusal is a plain JSON 4xx (429 with `Retry-After` for the limit).
"""

from __future__ import annotations

from chatkit.types import (
    ChatKitReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsRetryAfterItemReq,
)

from todo_assistant.context import RequestContext
from todo_assistant.limits import RateLimited, RateLimiter
from todo_assistant.web.errors import ApiError

# Requests that run the model: the ones a turn rate limit counts.
TURN_REQUESTS = (
    ThreadsCreateReq,
    ThreadsAddUserMessageReq,
    ThreadsRetryAfterItemReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
)


def message_chars(request: ChatKitReq) -> int:
    """Characters of text in a new user message (0 for every other request)."""
    if not isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        return 0
    return sum(len(getattr(part, "text", "")) for part in request.params.input.content)


def rate_limit_error(refused: RateLimited) -> ApiError:
    return ApiError(429, "rate_limited", refused.message, {"Retry-After": str(refused.retry_after)})


async def guard_turn(
    request: ChatKitReq, user: RequestContext, limiter: RateLimiter, max_message_chars: int
) -> None:
    if not isinstance(request, TURN_REQUESTS):
        return
    chars = message_chars(request)
    if chars > max_message_chars:
        raise ApiError(
            400,
            "message_too_long",
            f"The message has {chars} characters; at most {max_message_chars} are accepted.",
        )
    try:
        await limiter.check(user.user_id)
    except RateLimited as refused:
        raise rate_limit_error(refused) from None
