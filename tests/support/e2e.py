"""The real apps over real HTTP on loopback, on the moto DynamoDB server: with a given model
(`start_stack`), or built from settings alone against the fake OpenAI server
(`start_openai_stack`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from agents import set_tracing_disabled

from tests.support.fake_openai import FakeOpenAI
from tests.support.settings import bound_settings
from todo_assistant.config import Settings
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.wiring.chatkit import build_chatkit_app, build_chatkit_dependencies
from todo_assistant.wiring.session import build_session_app
from todo_assistant_dev.live_server import live_server
from todo_assistant_dev.stack import PathRouter

set_tracing_disabled(True)


@dataclass
class Stack:
    base_url: str
    settings: Settings
    model: LocalTodoModel


def start_stack(settings: Settings, model: LocalTodoModel) -> Iterator[Stack]:
    # The local model answers as the configured model, and as any other allowed one.
    model.name = settings.default_model
    deps = build_chatkit_dependencies(
        settings,
        model_factory=lambda model_id: model if model_id is None else model.named(model_id),
    )
    app = PathRouter(build_chatkit_app(settings, deps), build_session_app(settings))
    with live_server(app) as base_url:
        yield Stack(base_url, settings, model)


@dataclass
class OpenAIStack:
    """The real apps built from settings alone (MODEL_PROVIDER=openai), on the fake server."""

    base_url: str
    settings: Settings
    fake: FakeOpenAI


def start_openai_stack(
    moto_endpoint: str, fake: FakeOpenAI, api: str, **overrides: object
) -> Iterator[OpenAIStack]:
    settings = bound_settings(
        moto_endpoint,
        moto_endpoint,
        model_provider="openai",
        openai_api_key="sk-test-not-a-real-key",
        openai_base_url=fake.api_url,
        openai_api=api,
        openai_model="gpt-test",
        **overrides,
    )
    app = PathRouter(build_chatkit_app(settings), build_session_app(settings))
    with live_server(app) as base_url:
        yield OpenAIStack(base_url, settings, fake)
