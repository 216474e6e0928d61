"""The session function's objects, wired in one place from `Settings` (once, at init): client
secrets, the sign-in verifier, OpenAI-hosted sessions, the tasks API and the user's data
(export and erase, built by their first use). No agent, ChatKit server or `openai` import.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from todo_assistant.auth.hosted import MAX_RETRIES, TIMEOUT_SECONDS, HostedSessions
from todo_assistant.config import ConfigurationError, Settings, get_settings
from todo_assistant.first_use import on_first_use
from todo_assistant.secrets import openai_api_key
from todo_assistant.web.me_api import MeServices
from todo_assistant.web.session_app import SessionDependencies, create_session_app
from todo_assistant.wiring.shared import (
    api_limiter,
    build_client_secrets,
    build_task_service,
    oidc_verifier,
    payload_codec,
    s3_client,
)

__all__ = ["SessionDependencies", "build_session_app", "build_session_dependencies"]


def build_hosted_sessions(
    settings: Settings,
    *,
    timeout_seconds: float = TIMEOUT_SECONDS,
    max_retries: int = MAX_RETRIES,
) -> HostedSessions:
    """The OpenAI client for hosted sessions; fails at start-up without an API key. (`openai`
    is imported only in this mode.)"""
    from openai import AsyncOpenAI

    workflow_id = (settings.chatkit_workflow_id or "").strip()
    if not workflow_id:
        raise ConfigurationError("CHATKIT_WORKFLOW_ID is empty")
    api_key = openai_api_key(settings)
    if api_key is None or not api_key.get_secret_value():
        raise ConfigurationError(
            "CHATKIT_WORKFLOW_ID needs an OpenAI API key: set OPENAI_API_KEY or "
            "OPENAI_API_KEY_SECRET_ID"
        )
    client = AsyncOpenAI(
        api_key=api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=timeout_seconds,
        max_retries=max_retries,
    )
    return HostedSessions(client, workflow_id)


def build_me_services(settings: Settings) -> MeServices:
    from todo_assistant.lifecycle.erase import UserEraser
    from todo_assistant.lifecycle.export import UserExporter

    bucket = settings.large_item_bucket
    if bucket is None:
        return MeServices(eraser=UserEraser(None, None), exporter=None)
    s3 = s3_client(settings)
    return MeServices(
        eraser=UserEraser(bucket, s3),
        exporter=UserExporter(
            payload_codec(settings, s3), s3, bucket, settings.export_link_seconds
        ),
    )


def build_session_dependencies(settings: Settings) -> SessionDependencies:
    identity = oidc_verifier(settings) if settings.auth_mode == "oidc" else None
    hosted = build_hosted_sessions(settings) if settings.chatkit_workflow_id else None
    return SessionDependencies(
        secrets=build_client_secrets(settings),
        tasks=build_task_service(settings),
        api_limiter=api_limiter(settings),
        # Rare requests: their services (lifecycle/, an S3 client) are built by the first.
        me_services=on_first_use(partial(build_me_services, settings)),
        identity=identity,
        hosted=hosted,
    )


def build_session_app(
    settings: Settings | None = None, dependencies: SessionDependencies | None = None
) -> FastAPI:
    """The session function's app (the configuration is checked before anything is built)."""
    settings = settings or get_settings()
    settings.check_auth_mode()
    return create_session_app(settings, dependencies or build_session_dependencies(settings))
