"""Faults under concurrent load: DynamoDB throttling, internal errors and dropped connections
injected between the apps and DynamoDB Local while several users chat over HTTP; a model that
fails. (A model that hangs into the turn deadline: test_limits_and_lifecycle.py.)

The rule checked after each run (todo_assistant_dev/faults.py `check_turns`): every
acknowledged turn's message is stored exactly once, every reported effect's task exactly once,
nothing twice, every failure reached the client as a clear error, and the service still
answers. The figures are printed at the end of the test run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.support.e2e import Stack, start_stack
from tests.support.settings import bound_settings
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.tasks.models import StatusFilter
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import bind_table, build_task_service
from todo_assistant_dev.faults import FaultProxy, LoadFigures, chat_load, check_turns

pytestmark = [pytest.mark.e2e, pytest.mark.dynamodb_local]

FIGURES: list[tuple[str, LoadFigures]] = []
USERS, TURNS = 4, 4
NO_LIMITS = {
    "rate_limit_turns_per_minute": 0,
    "rate_limit_turns_per_day": 0,
    "rate_limit_api_per_minute": 0,
    "rate_limit_api_per_day": 0,
}


async def stored(settings: Settings, threads: dict[str, str]) -> tuple[dict, dict]:
    """Per user: the texts of the stored user messages and the stored task titles."""
    bind_table(settings)
    store, tasks = build_store(settings), build_task_service(settings)
    messages: dict[str, list[str]] = {}
    titles: dict[str, list[str]] = {}
    for user, thread in threads.items():
        page = await store.load_thread_items(thread, None, 500, "asc", RequestContext(user))
        messages[user] = [
            " ".join(part.text for part in item.content)
            for item in page.data
            if item.type == "user_message"
        ]
        titles[user] = [t.title for t in await tasks.list(user, StatusFilter.ALL, None)]
    return messages, titles


def run_stack(settings: Settings, model: LocalTodoModel) -> Iterator[Stack]:
    yield from start_stack(settings, model)


@pytest.fixture
def faulty(dynamodb_local_endpoint: str, moto_endpoint: str) -> Iterator[tuple[FaultProxy, Stack]]:
    direct = bound_settings(dynamodb_local_endpoint, moto_endpoint)
    proxy = FaultProxy(dynamodb_local_endpoint, fraction=0.0, seed=14)
    with proxy.running() as proxy_url:
        # One botocore retry: most faults are absorbed, some must surface to prove the error
        # path (the default of three retries absorbs nearly all of them).
        settings = bound_settings(
            proxy_url,
            moto_endpoint,
            table_name=direct.table_name,
            dynamodb_max_retry_attempts=1,
            **NO_LIMITS,
        )
        for stack in run_stack(settings, LocalTodoModel()):
            yield proxy, stack
    bind_table(direct)


async def test_dynamodb_faults_under_concurrent_chat_lose_and_duplicate_nothing(
    faulty, dynamodb_local_endpoint, moto_endpoint
):
    proxy, stack = faulty
    # A quarter of the calls fail once; with one retry about 1 in 16 fails for good: most
    # faults are absorbed, and some surface (expected ~7 per run) to prove the error path.
    proxy.fraction = 0.25
    turns, threads = await chat_load(stack.base_url, USERS, TURNS)
    proxy.fraction = 0.0
    injected, through_proxy = proxy.counts.injected, proxy.counts.requests

    # The service still answers, for every user, once the faults stop.
    after, _ = await chat_load(stack.base_url, USERS, 1)
    assert len(after) == USERS, after
    assert all(t.completed for t in after), [t.error for t in after]

    direct = bound_settings(dynamodb_local_endpoint, moto_endpoint, **NO_LIMITS)
    messages, titles = await stored(direct, threads)
    figures = check_turns(turns, messages, titles)
    figures.faults_injected = injected
    figures.faults = dict(proxy.counts.faults)
    figures.requests_through_proxy = through_proxy
    FIGURES.append((f"DynamoDB faults, {USERS} users x {TURNS} turns", figures))

    assert figures.lost == 0 and figures.duplicated == 0, figures
    assert figures.unclear_failures == 0, [t for t in turns if not t.completed and not t.error]
    assert injected > 0 and figures.errors > 0, "some faults must reach the client"
    assert figures.completed > 0
    # Both kinds of failure reached the client: a JSON error or an SSE error event.
    kinds = {t.error.split(":")[0] for t in turns if t.error}
    assert kinds <= {"http", "sse"}, [t.error for t in turns]


class FailingModel(LocalTodoModel):
    """Fails every other call, before or after it has started to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.calls += 1
        if self.calls % 2 == 0:
            raise RuntimeError("model provider unavailable")
        async for event in super().stream_response(*args, **kwargs):
            yield event
            await asyncio.sleep(0)


async def test_a_failing_model_under_concurrent_chat(moto_endpoint):
    settings = bound_settings(moto_endpoint, moto_endpoint, **NO_LIMITS)
    model = FailingModel()
    runs = 0
    for stack in run_stack(settings, model):
        runs += 1
        turns, threads = await chat_load(stack.base_url, USERS, TURNS)
        messages, titles = await stored(settings, threads)
        figures = check_turns(turns, messages, titles)
        FIGURES.append((f"failing model, {USERS} users x {TURNS} turns", figures))
        assert figures.lost == 0 and figures.duplicated == 0, figures
        assert figures.unclear_failures == 0
        assert figures.errors > 0 and figures.completed > 0
        # Model failures end the stream with an error event (a message the user understands).
        assert {t.error.split(":")[0] for t in turns if t.error} == {"sse"}
        # Every failed turn kept its acknowledged message (retry works from it).
        assert figures.acknowledged == len(turns)
    assert runs == 1, "the stack never started"
