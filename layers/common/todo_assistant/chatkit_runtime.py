"""The chatkit function's objects, wired in one place from `Settings` (once, at init).

The app, the tests and the benchmarks all build the server here, so what they run is what
Lambda runs; they may swap the model (a scripted one) or, for an in-memory baseline, the
store and the task service. `runtime.py` builds the parts both functions share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agents import Model

from todo_assistant.agent.model_choice import ModelChoices
from todo_assistant.agent.providers import build_model
from todo_assistant.agent.request_settings import request_settings
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import Settings
from todo_assistant.limits import RateLimiter
from todo_assistant.runtime import (
    build_attachment_store,
    build_client_secrets,
    build_store,
    build_task_service,
)
from todo_assistant.server import TodoChatKitServer
from todo_assistant.store.chatkit_store import TodoStore
from todo_assistant.store.stop_requests import StopRequests
from todo_assistant.tasks.service import TaskService

# The model for a model id (None: the configured default model).
ModelFactory = Callable[[str | None], Model]


@dataclass
class ChatKitDependencies:
    server: TodoChatKitServer
    secrets: ClientSecretService
    # Where Stop requests are written and read (POST /chatkit/cancel, agent/stop.py).
    stops: StopRequests = field(default_factory=StopRequests)


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
        history_item_limit=settings.history_item_limit,
        history_token_budget=settings.history_token_budget,
        tasks=tasks,
        attachments=attachments,
        models=ModelChoices(settings.default_model, settings.allowed_model_ids, models_for),
        request_settings=request_settings(settings),
        max_tool_calls_per_turn=settings.max_tool_calls_per_turn,
        turn_limiter=RateLimiter.for_turns(settings),
    )
    return ChatKitDependencies(server=server, secrets=build_client_secrets(settings))
