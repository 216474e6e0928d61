"""Who is calling: the user id comes only from a verified client secret."""

from __future__ import annotations

from fastapi import Request

from todo_assistant.auth.client_secrets import ClientSecretService, InvalidClientSecret
from todo_assistant.context import RequestContext
from todo_assistant.web.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="todo-assistant"'}


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "Missing bearer token.", _CHALLENGE)
    return token.strip()


def verified_user(request: Request, secrets: ClientSecretService) -> RequestContext:
    try:
        verified = secrets.verify(bearer_token(request))
    except InvalidClientSecret as error:
        raise ApiError(
            401, "unauthorized", f"Invalid client secret: {error}.", _CHALLENGE
        ) from None
    return RequestContext(user_id=verified.user_id)
