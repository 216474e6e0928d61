"""POST /session and /session/refresh (client secrets), plus the tasks REST API.

Sign-in (`POST /session`):
- AUTH_MODE=oidc (the default): `Authorization: Bearer <the app's ID/access token>`, verified
  against the identity provider's JWKS; the user is the token's user claim. A body, headers
  or query parameters never choose the user.
- AUTH_MODE=dev (local only, refused in Lambda): body `{"user_id": "..."}`.

The answer is our own short-lived client secret, or, when CHATKIT_WORKFLOW_ID is set, the
client secret of an OpenAI-hosted ChatKit session created for the verified user together with
our own client secret for the tasks API (`tasks_client_secret`): OpenAI's secret opens only
OpenAI's ChatKit, and the dashboard's /tasks calls need a credential of this backend.

This app backs the session function, which must start fast: it imports no agent or ChatKit
server code, and `openai` only in the OpenAI-hosted mode. It receives its dependencies
(wiring/session.py builds them) and builds none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from todo_assistant.auth.client_secrets import ClientSecretService, InvalidClientSecret
from todo_assistant.auth.hosted import HostedSessionError, HostedSessions
from todo_assistant.auth.oidc import OidcVerifier
from todo_assistant.composer_options import public_config
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.context import USER_ID_PATTERN, RequestContext
from todo_assistant.limits import RateLimiter
from todo_assistant.observability import logger
from todo_assistant.tasks.service import TaskService
from todo_assistant.web.auth import bearer_token, verified_app_user, verified_user
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError, describe_validation_error
from todo_assistant.web.me_api import MeServices, build_me_router
from todo_assistant.web.tasks_api import build_tasks_router

__all__ = ["USER_ID_PATTERN", "SessionDependencies", "create_session_app"]


class DevSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(pattern=USER_ID_PATTERN)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    client_secret: str | None = Field(default=None, alias="token", max_length=4096)


class SessionResponse(BaseModel):
    client_secret: str
    expires_at: int


class HostedSessionResponse(SessionResponse):
    """An OpenAI-hosted ChatKit session, and this backend's own secret for /tasks."""

    tasks_client_secret: str
    tasks_expires_at: int


@dataclass
class SessionDependencies:
    secrets: ClientSecretService
    tasks: TaskService
    # Counts each /tasks and /me call of a user (its windows may be none: off).
    api_limiter: RateLimiter
    # GET /me/export and DELETE /me, built by their first call (first_use.py).
    me_services: Callable[[], MeServices]
    # Set in AUTH_MODE=oidc; dev mode reads the user from the body instead.
    identity: OidcVerifier | None = None
    # Set when CHATKIT_WORKFLOW_ID names an OpenAI-hosted workflow.
    hosted: HostedSessions | None = None


async def _dev_user(request: Request) -> RequestContext:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "invalid_request", 'Dev sign-in needs a body {"user_id": "..."}.')
    try:
        body = DevSessionRequest.model_validate_json(raw)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", describe_validation_error(error)) from None
    return RequestContext(user_id=body.user_id)


def create_session_app(settings: Settings, deps: SessionDependencies) -> FastAPI:
    settings.check_auth_mode()
    if settings.auth_mode == "oidc" and deps.identity is None:
        raise ConfigurationError("AUTH_MODE=oidc needs an identity token verifier")
    app = new_app("Todo assistant session", settings)
    app.state.deps = deps

    async def signed_in_user(request: Request) -> RequestContext:
        if deps.identity is not None:
            return await verified_app_user(request, deps.identity)
        return await _dev_user(request)

    @app.post("/session")
    async def create_session(request: Request) -> SessionResponse | HostedSessionResponse:
        user = await signed_in_user(request)
        if deps.hosted is not None:
            try:
                hosted = await deps.hosted.create(user.user_id)
            except HostedSessionError as error:
                headers = {"Retry-After": error.retry_after} if error.retry_after else None
                raise ApiError(error.status, error.code, error.message, headers) from None
            tasks = deps.secrets.issue(user.user_id)
            logger.info("session issued", extra={"user_id": user.user_id, "mode": "hosted"})
            return HostedSessionResponse(
                client_secret=hosted.client_secret,
                expires_at=hosted.expires_at,
                tasks_client_secret=tasks.client_secret,
                tasks_expires_at=tasks.expires_at,
            )
        issued = deps.secrets.issue(user.user_id)
        logger.info("session issued", extra={"user_id": issued.user_id, "mode": settings.auth_mode})
        return SessionResponse(client_secret=issued.client_secret, expires_at=issued.expires_at)

    @app.post("/session/refresh")
    async def refresh_session(
        request: Request, body: Annotated[RefreshRequest | None, Body()] = None
    ) -> SessionResponse:
        if deps.hosted is not None:
            # OpenAI's secrets are not ours to renew; the front end signs in again instead.
            raise ApiError(
                400,
                "unsupported_request",
                "Hosted ChatKit sessions are renewed with POST /session and the app token.",
            )
        token = body.client_secret if body and body.client_secret else bearer_token(request)
        try:
            issued = deps.secrets.refresh(token)
        except InvalidClientSecret as error:
            raise ApiError(401, "unauthorized", f"Cannot refresh: {error}.") from None
        logger.info("session refreshed", extra={"user_id": issued.user_id})
        return SessionResponse(client_secret=issued.client_secret, expires_at=issued.expires_at)

    composer_config = public_config(settings)

    @app.get("/config")
    async def get_config() -> JSONResponse:
        # The same for every caller and changes only with a deployment: cacheable, no sign-in.
        return JSONResponse(composer_config, headers={"Cache-Control": "public, max-age=300"})

    async def current_user(request: Request) -> RequestContext:
        user = verified_user(request, deps.secrets)
        # A full window refuses with 429 and Retry-After (RateLimited is a Refusal).
        await deps.api_limiter.check(user.user_id)
        return user

    app.include_router(build_tasks_router(deps.tasks, current_user))
    app.include_router(build_me_router(deps.me_services, current_user))
    return app
