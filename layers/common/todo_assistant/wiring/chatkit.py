"""The chatkit function's objects, wired in one place from `Settings` (once, at init).

The app, the tests and the benchmarks all build the server here, so what they run is what
Lambda runs; they may swap the model (a scripted one) or, for an in-memory baseline, the
store and the task service. `shared.py` builds the parts every function shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents import Model
from fastapi import FastAPI

from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.chat.server import TodoChatKitServer, TurnLimits
from todo_assistant.composer_options import attachments_enabled
from todo_assistant.config import ConfigurationError, Settings, get_settings
from todo_assistant.llm import providers
from todo_assistant.llm.model_choice import ModelChoices
from todo_assistant.llm.request_settings import RequestSettings
from todo_assistant.secrets import openai_api_key
from todo_assistant.store.attachments import S3AttachmentStore
from todo_assistant.store.base import TodoStore
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.tasks.service import TaskService
from todo_assistant.web.chatkit_app import ChatKitDependencies, create_chatkit_app
from todo_assistant.wiring.shared import (
    bind_table,
    build_client_secrets,
    build_task_service,
    lazy_s3_client,
    payload_codec,
    signing_keys,
    turn_limiter,
)

__all__ = ["ChatKitDependencies", "build_chatkit_app", "build_chatkit_dependencies"]

# The model for a model id (None: the configured default model).
ModelFactory = Callable[[str | None], Model]


def build_model(settings: Settings, model_id: str | None = None) -> Model:
    """The configured model, or the allowed model `model_id` of the same provider."""
    provider = settings.resolved_model_provider
    if provider == "local":
        return providers.local_model(
            name=model_id or settings.default_model,
            delay_seconds=settings.local_model_delay_ms / 1000,
        )
    if provider == "litellm":
        return providers.litellm_model(name=model_id or settings.litellm_model)
    api_key = openai_api_key(settings)
    return providers.openai_model(
        name=model_id or settings.openai_model,
        api=settings.openai_api,
        api_key=api_key.get_secret_value() if api_key is not None else None,
        base_url=settings.openai_base_url,
        max_retries=settings.openai_max_retries,
        timeout_seconds=settings.openai_timeout_seconds,
    )


def current_signing_key(settings: Settings) -> str:
    """The key that signs new client secrets (from Secrets Manager when configured)."""
    keys = signing_keys(settings)
    return keys.keys[keys.current_kid]


def request_settings(settings: Settings, signing_key: str | None = None) -> RequestSettings:
    """What every model request carries (llm/request_settings.py). `signing_key`: the
    client-secret key, used when SAFETY_IDENTIFIER_KEY is not set (read from the
    configuration when not given)."""
    if settings.resolved_model_provider != "openai":
        return RequestSettings(max_output_tokens=settings.max_output_tokens)
    if settings.safety_identifier_key is not None:
        key: str | None = settings.safety_identifier_key.get_secret_value()
    else:
        key = signing_key if signing_key is not None else current_signing_key(settings)
    return RequestSettings(
        max_output_tokens=settings.max_output_tokens,
        store=settings.openai_store,
        identity_key=key.encode() if key else None,
        # Usage figures in the stream also from OpenAI-compatible servers (Chat Completions
        # asks for them only from api.openai.com by default).
        include_usage=True,
    )


def build_store(settings: Settings) -> DynamoChatKitStore:
    bind_table(settings)
    return DynamoChatKitStore(
        payload_codec(settings),
        turn_history_items=settings.history_item_limit,
        thread_retention_days=settings.thread_retention_days,
    )


def build_attachment_store(
    settings: Settings, store: DynamoChatKitStore
) -> S3AttachmentStore | None:
    """Attachment bytes live in the large-item bucket; without one, attachments are off."""
    if not settings.large_item_bucket or not attachments_enabled(settings):
        return None
    return S3AttachmentStore(
        store, lazy_s3_client(settings), settings.large_item_bucket, settings.attachment_max_bytes
    )


def build_chatkit_dependencies(
    settings: Settings,
    *,
    model_factory: ModelFactory | None = None,
    store: TodoStore | None = None,
    tasks: TaskService | None = None,
) -> ChatKitDependencies:
    def configured_model(model_id: str | None) -> Model:
        return build_model(settings, model_id)

    models_for = model_factory or configured_model
    tasks = tasks or build_task_service(settings)
    attachments = None
    if store is None:
        dynamo_store = build_store(settings)
        # Attachment bytes live in the DynamoDB store's bucket.
        attachments = build_attachment_store(settings, dynamo_store)
        store = dynamo_store
    agent = build_todo_agent(models_for(None), tasks, max_output_tokens=settings.max_output_tokens)
    server = TodoChatKitServer(
        store,
        agent,
        tasks=tasks,
        limits=TurnLimits(
            history_item_limit=settings.history_item_limit,
            history_token_budget=settings.history_token_budget,
            max_tool_calls_per_turn=settings.max_tool_calls_per_turn,
            max_message_chars=settings.max_message_chars,
        ),
        attachments=attachments,
        models=ModelChoices(settings.default_model, settings.allowed_model_ids, models_for),
        request_settings=request_settings(settings),
        turn_limiter=turn_limiter(settings),
    )
    return ChatKitDependencies(server=server, secrets=build_client_secrets(settings))


def build_chatkit_app(
    settings: Settings | None = None,
    dependencies: ChatKitDependencies | None = None,
    **overrides: Any,
) -> FastAPI:
    """The chatkit function's app; `overrides` go to `build_chatkit_dependencies`."""
    settings = settings or get_settings()
    if dependencies is not None and overrides:
        raise ConfigurationError("give the dependencies or what to build them with, not both")
    deps = dependencies or build_chatkit_dependencies(settings, **overrides)
    return create_chatkit_app(settings, deps)
