"""The real apps over real HTTP on loopback, on the moto DynamoDB server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agents import set_tracing_disabled

from tests.conftest import bound_settings
from tests.support.fake_openai import FakeOpenAI, run_fake_openai
from todo_assistant.config import Settings
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.wiring.chatkit import build_chatkit_app, build_chatkit_dependencies
from todo_assistant.wiring.session import build_session_app
from todo_assistant_dev.live_server import live_server
from todo_assistant_dev.stack import PathRouter

set_tracing_disabled(True)


class GatedModel(LocalTodoModel):
    """The local model, but it holds back its second text delta until the test opens a gate.

    If the response were buffered anywhere between the model and the HTTP client, the client
    could never see the first delta while the gate is closed.
    """

    def __init__(self) -> None:
        super().__init__(words_per_delta=2)
        self.gate = threading.Event()
        self.gate_timed_out = False

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        import asyncio

        deltas = 0
        async for event in super().stream_response(*args, **kwargs):
            if event.type == "response.output_text.delta":
                deltas += 1
                if deltas == 2 and not await asyncio.to_thread(self.gate.wait, 20):
                    self.gate_timed_out = True
            yield event


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


@pytest.fixture
def stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint, max_request_bytes=64_000)
    yield from start_stack(settings, LocalTodoModel())


@pytest.fixture
def gated_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint)
    yield from start_stack(settings, GatedModel())


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
        yield client


@dataclass
class OpenAIStack:
    """The real apps built from settings alone (MODEL_PROVIDER=openai), on the fake server."""

    base_url: str
    settings: Settings
    fake: FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


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


@pytest.fixture(params=["responses", "chat_completions"])
def openai_stack(
    request: pytest.FixtureRequest, moto_endpoint: str, fake_openai: FakeOpenAI
) -> Iterator[OpenAIStack]:
    """The stack on each OpenAI API in turn (OPENAI_API=responses|chat_completions)."""
    yield from start_openai_stack(moto_endpoint, fake_openai, request.param)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault suite's figures (tests/e2e/test_faults.py), when it ran."""
    import sys

    module = sys.modules.get("tests.e2e.test_faults")
    for name, figures in getattr(module, "FIGURES", []):
        terminalreporter.write_sep("-", f"faults: {name}")
        for line in figures.table().splitlines():
            terminalreporter.write_line(line)
