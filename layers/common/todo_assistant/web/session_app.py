"""POST /session and /session/refresh (client secrets), plus the tasks REST API.

This app backs the session function, which must start fast: it imports no agent, OpenAI or
ChatKit server code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Body, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from todo_assistant.auth.client_secrets import ClientSecretService, InvalidClientSecret
from todo_assistant.config import Settings, get_settings
from todo_assistant.context import RequestContext
from todo_assistant.observability import logger
from todo_assistant.runtime import build_client_secrets, build_task_service
from todo_assistant.tasks.service import TaskService
from todo_assistant.web.auth import bearer_token, verified_user
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError
from todo_assistant.web.tasks_api import build_tasks_router

USER_ID_PATTERN = r"^[A-Za-z0-9_.@:|+\-]{1,128}$"


class DevSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(pattern=USER_ID_PATTERN)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    client_secret: str | None = Field(default=None, alias="token", max_length=4096)


class SessionResponse(BaseModel):
    client_secret: str
    expires_at: int


@dataclass
class SessionDependencies:
    secrets: ClientSecretService
    tasks: TaskService


def build_session_dependencies(settings: Settings) -> SessionDependencies:
    return SessionDependencies(
        secrets=build_client_secrets(settings), tasks=build_task_service(settings)
    )


def create_session_app(
    settings: Settings | None = None, dependencies: SessionDependencies | None = None
) -> FastAPI:
    settings = settings or get_settings()
    settings.check_auth_mode()
    deps = dependencies or build_session_dependencies(settings)
    app = new_app("Todo assistant session", settings)
    app.state.deps = deps

    @app.post("/session")
    async def create_session(
        body: Annotated[DevSessionRequest | None, Body()] = None,
    ) -> SessionResponse:
        if settings.auth_mode != "dev":
            raise ApiError(
                501, "not_configured", "Only AUTH_MODE=dev sign-in is available in this build."
            )
        if body is None:
            raise ApiError(400, "invalid_request", 'Dev sign-in needs a body {"user_id": "..."}.')
        issued = deps.secrets.issue(body.user_id)
        logger.info("session issued", extra={"user_id": issued.user_id, "mode": "dev"})
        return SessionResponse(client_secret=issued.client_secret, expires_at=issued.expires_at)

    @app.post("/session/refresh")
    async def refresh_session(
        request: Request, body: Annotated[RefreshRequest | None, Body()] = None
    ) -> SessionResponse:
        token = body.client_secret if body and body.client_secret else bearer_token(request)
        try:
            current = deps.secrets.verify(
                token, allow_expired_for=deps.secrets.refresh_grace_seconds
            )
        except InvalidClientSecret as error:
            raise ApiError(401, "unauthorized", f"Cannot refresh: {error}.") from None
        issued = deps.secrets.issue(current.user_id)
        logger.info("session refreshed", extra={"user_id": issued.user_id})
        return SessionResponse(client_secret=issued.client_secret, expires_at=issued.expires_at)

    def current_user(request: Request) -> RequestContext:
        return verified_user(request, deps.secrets)

    app.include_router(build_tasks_router(deps.tasks, current_user))
    return app
