"""The real apps over real HTTP on loopback, on the moto DynamoDB server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.e2e import OpenAIStack, Stack, start_openai_stack, start_stack
from tests.support.fake_openai import FakeOpenAI, run_fake_openai
from tests.support.settings import bound_settings
from todo_assistant.llm.local.model import LocalTodoModel


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


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with run_fake_openai() as fake:
        yield fake


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
