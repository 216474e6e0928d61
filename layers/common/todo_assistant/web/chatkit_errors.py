"""What a ChatKit request that fails before its answer starts gets: a 4xx for the client's
mistake, a JSON 500 for ours."""

from __future__ import annotations

from chatkit.store import NotFoundError
from pydantic import ValidationError

from todo_assistant.errors import Refusal
from todo_assistant.observability import logger
from todo_assistant.web.errors import ApiError, describe_validation_error

# What `client_error` answers with a 4xx: the client's mistake, not a failed turn. (ApiError
# is a Refusal: raised by web/ itself.)
CLIENT_ERRORS = (
    ValidationError,
    NotFoundError,
    NotImplementedError,
    ValueError,
    Refusal,
)


def client_error(error: Exception) -> Refusal:
    """Map what the SDK raises on bad input to a 4xx; anything else is ours (a JSON 500)."""
    if isinstance(error, ValidationError):
        return ApiError(400, "invalid_request", describe_validation_error(error))
    if isinstance(error, Refusal):
        return error
    if isinstance(error, NotFoundError):
        return ApiError(404, "not_found", "Thread, item or attachment not found.")
    if isinstance(error, NotImplementedError):
        return ApiError(400, "unsupported_request", "This request type is not supported here.")
    if isinstance(error, ValueError):
        return ApiError(400, "invalid_request", str(error))
    # Answered here rather than by the catch-all handler: Starlette re-raises what reaches that
    # one, and uvicorn then closes the connection, which the Web Adapter (or any keep-alive
    # client) finds broken on its next request.
    logger.exception("chatkit request failed")
    return ApiError(500, "internal_error", "Something went wrong on our side.")
