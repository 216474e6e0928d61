"""Who is calling: the user id comes only from a verified client secret (or, at sign-in, from
the app's verified identity token)."""

from __future__ import annotations

import asyncio

from fastapi import Request

from todo_assistant.auth.client_secrets import ClientSecretService, InvalidClientSecret
from todo_assistant.auth.oidc import IdentityProviderUnavailable, InvalidIdentityToken, OidcVerifier
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


async def verified_app_user(request: Request, verifier: OidcVerifier) -> RequestContext:
    """The user named by the app's own sign-in token (POST /session in AUTH_MODE=oidc)."""
    token = bearer_token(request)
    try:
        # A JWKS fetch may block: keep it off the event loop.
        identity = await asyncio.to_thread(verifier.verify, token)
    except InvalidIdentityToken as error:
        raise ApiError(
            401, "unauthorized", f"Invalid identity token: {error}.", _CHALLENGE
        ) from None
    except IdentityProviderUnavailable as error:
        raise ApiError(
            503,
            "identity_provider_unavailable",
            "The identity provider's signing keys could not be fetched; try again.",
            {"Retry-After": str(error.retry_after_seconds)},
        ) from None
    return RequestContext(user_id=identity.user_id)
