"""How a turn ends after its tools changed tasks, over HTTP: the model fails, the turn reaches
its deadline, the table fails. Each leaves a thread that says what happened, tasks changed
exactly once, a clear error event with `allow_retry`, a next turn that works and a Retry that
repeats nothing. docs/turns.md has the table of every exit and names these tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.e2e import OpenAIStack, Stack, start_openai_stack, start_stack
from tests.support.fake_openai import Call, Fail, FakeOpenAI, Say
from tests.support.faulty_table import faulty_table
from tests.support.http_chat import Chat, answer, cards, effects, shown
from tests.support.settings import bound_settings
from todo_assistant.agent.history import FAILED_TURN_NOTE, is_failed_turn_marker
from todo_assistant.chat.model_errors import FAILURES
from todo_assistant.context import RequestContext
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.faults import FaultProxy

pytestmark = pytest.mark.e2e

TOLD = "Before the error I added task #1 “Water the plants”."


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "error"]


async def markers(stack: Stack | OpenAIStack, user: str, thread_id: str) -> list[dict[str, Any]]:
    store = build_store(stack.settings)
    page = await store.load_thread_items(thread_id, None, 50, "asc", RequestContext(user))
    return [item.content for item in page.data if is_failed_turn_marker(item)]


# -- the model fails after a tool ran ---------------------------------------------------------


@pytest.fixture(params=["responses", "chat_completions"])
def openai(
    request: pytest.FixtureRequest, moto_endpoint: str, fake_openai: FakeOpenAI
) -> Iterator[OpenAIStack]:
    yield from start_openai_stack(moto_endpoint, fake_openai, request.param, openai_max_retries=0)


async def test_a_model_failing_after_a_tool_leaves_a_true_thread(
    openai: OpenAIStack, http: httpx.AsyncClient, user_id: str
):
    fake = openai.fake
    chat = await Chat(http, openai, user_id).sign_in()
    fake.script(Call("add_task", {"title": "Water the plants"}), Fail(500))
    thread_id, message_id, events = await chat.say("Add a task to water the plants")

    # The client: the task's effect and card, the thread's account of it, one clear error.
    failure = FAILURES["server_error"]
    assert errors(events) == [
        {"type": "error", "code": "custom", "message": failure.message, "allow_retry": True}
    ]
    assert effects(events) == ["created"]
    assert TOLD in answer(events)
    # After a reload: the same, in order.
    assert shown(await chat.items(thread_id)) == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
        ("assistant_message", TOLD),
    ]
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]
    assert await markers(openai, user_id, thread_id) == [
        {"turn_failed": "server_error", "changes": ["added task #1 “Water the plants”"]}
    ]

    # The next turn works, and the model is told what happened, not "not carried out".
    fake.script(Say("You have 1 pending task."))
    _, _, events = await chat.say("What's pending?", thread_id)
    assert not errors(events) and answer(events) == "You have 1 pending task."
    sent = json.dumps(fake.requests[-1].body, ensure_ascii=False)
    assert "added task #1 “Water the plants”; these changes stand" in sent
    assert FAILED_TURN_NOTE not in sent

    # Retry fails again before any tool: the thread still says what this message changed.
    fake.script(Fail(500))
    events = await chat.retry(thread_id, message_id)
    assert errors(events)[0]["allow_retry"] is True
    assert shown(await chat.items(thread_id)) == [
        ("user_message", "Add a task to water the plants"),
        ("assistant_message", TOLD),
    ]

    # Retry once more: the model calls the tool again, and nothing is added twice.
    fake.script(Call("add_task", {"title": "Water the plants"}), Say("Added task #1."))
    requests_before = len(fake.requests)
    events = await chat.retry(thread_id, message_id)
    assert not errors(events) and effects(events) == [] and cards(events) == ["Task added"]
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]
    retried = [json.dumps(r.body, ensure_ascii=False) for r in fake.requests[requests_before:]]
    # The model was told what this message already did, and got the recorded tool result.
    assert "This request is being answered again" in retried[0]
    assert "Added task #1: Water the plants" in retried[1]
    assert shown(await chat.items(thread_id)) == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
        ("assistant_message", "Added task #1."),
    ]
    assert await markers(openai, user_id, thread_id) == []


# -- the turn reaches its deadline after a tool ran -------------------------------------------


class HangsOnce(LocalTodoModel):
    """Runs the tool, starts its answer, then hangs (once: the next answer is whole)."""

    def __init__(self) -> None:
        super().__init__(words_per_delta=1)
        self.hang = True

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        deltas = 0
        async for event in super().stream_response(*args, **kwargs):
            if event.type == "response.output_text.delta":
                deltas += 1
                if deltas == 2 and self.hang:
                    self.hang = False
                    await asyncio.Event().wait()
            yield event


@pytest.fixture
def deadline_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint, turn_timeout_seconds=1.0)
    yield from start_stack(settings, HangsOnce())


async def test_a_turn_reaching_its_deadline_after_a_tool(
    deadline_stack: Stack, http: httpx.AsyncClient, user_id: str
):
    chat = await Chat(http, deadline_stack, user_id).sign_in()
    thread_id, message_id, events = await chat.say("Add a task to water the plants")
    assert events[-1]["type"] == "error" and events[-1]["allow_retry"] is True
    assert effects(events) == ["created"]
    # What changed is in the thread (its card), with what was streamed of the answer.
    assert shown(await chat.items(thread_id)) == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
        ("assistant_message", "Added "),
    ]
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]
    assert len((await chat.ledger(thread_id, message_id)).calls) == 1

    events = await chat.retry(thread_id, message_id)
    assert not errors(events)
    assert answer(events) == "Added task #1: Water the plants." and effects(events) == []
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]


# -- the table fails ----------------------------------------------------------------------------


@pytest.fixture
def faulty_stack(
    dynamodb_local_endpoint: str, moto_endpoint: str
) -> Iterator[tuple[FaultProxy, Stack]]:
    """DynamoDB Local behind a proxy that fails the requests a test schedules; one botocore
    retry, so a fault scheduled twice in a row fails a call for good."""
    direct = bound_settings(dynamodb_local_endpoint, moto_endpoint)
    with faulty_table(direct, retries=1) as (proxy, settings):
        for stack in start_stack(settings, LocalTodoModel()):
            yield proxy, stack


@pytest.fixture
async def faulty_chat(
    faulty_stack: tuple[FaultProxy, Stack], http: httpx.AsyncClient, user_id: str
) -> tuple[FaultProxy, Chat, str]:
    """The proxy, a signed-in user and their thread after one exchange, on the faulty table."""
    proxy, stack = faulty_stack
    chat = await Chat(http, stack, user_id).sign_in()
    thread_id, _, _ = await chat.say("Hello")
    return proxy, chat, thread_id


@pytest.mark.dynamodb_local
async def test_a_store_error_inside_a_tool_changes_nothing(
    faulty_chat: tuple[FaultProxy, Chat, str],
):
    proxy, chat, thread_id = faulty_chat
    proxy.fail_next("PutItem", "internal", times=2)  # the task's write, and its retry
    _, message_id, events = await chat.say("Add a task to water the plants", thread_id)
    assert proxy.counts.faults == {"internal": 2}
    assert errors(events) == [
        {
            "type": "error",
            "code": "custom",
            "message": FAILURES["internal"].message,
            "allow_retry": True,
        }
    ]
    assert effects(events) == []
    assert await chat.tasks() == []
    assert shown(await chat.items(thread_id))[-1] == (
        "user_message",
        "Add a task to water the plants",
    )
    assert await markers(chat.stack, chat.user, thread_id) == [{"turn_failed": "internal"}]

    events = await chat.retry(thread_id, message_id)
    assert not errors(events) and effects(events) == ["created"]
    # Number 1 went to the failed write: numbers are never reused.
    assert [(t["number"], t["title"]) for t in await chat.tasks()] == [(2, "Water the plants")]


@pytest.mark.dynamodb_local
async def test_a_store_error_after_a_tool_changed_a_task(
    faulty_chat: tuple[FaultProxy, Chat, str],
):
    proxy, chat, thread_id = faulty_chat
    # The write of the task card (which carries the effects record) fails, retry included;
    # the request's last flush, when the table answers again, writes both.
    proxy.fail_next("BatchWriteItem", "internal", times=2)
    _, message_id, events = await chat.say("Add a task to water the plants", thread_id)
    assert proxy.counts.faults == {"internal": 2}
    assert errors(events) == [{"type": "error", "code": "stream.error", "allow_retry": True}]
    assert effects(events) == ["created"]
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]
    assert shown(await chat.items(thread_id))[-2:] == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
    ]
    assert len((await chat.ledger(thread_id, message_id)).calls) == 1

    # The next turn works; Retry adds nothing.
    _, _, events = await chat.say("Show me all my tasks", thread_id)
    assert answer(events) == "You have 1 task."
    events = await chat.retry(thread_id, message_id)
    assert not errors(events) and effects(events) == []
    assert answer(events) == "Added task #1: Water the plants."
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]


@pytest.mark.dynamodb_local
async def test_a_store_error_on_the_answer_keeps_the_answer(
    faulty_chat: tuple[FaultProxy, Chat, str],
):
    proxy, chat, thread_id = faulty_chat
    # The answer's write (a batch with the tool's record, after the card's batch) fails, retry
    # included; the client saw the whole answer stream, then the error. The request's last
    # flush saves the answer.
    proxy.fail_next("BatchWriteItem", "internal", times=2, skip=1)
    _, _, events = await chat.say("Add a task to water the plants", thread_id)
    assert proxy.counts.faults == {"internal": 2}
    assert errors(events) == [{"type": "error", "code": "stream.error", "allow_retry": True}]
    assert "Added task #1: Water the plants." in "".join(
        e["update"].get("delta", "") for e in events if e["type"] == "thread.item.updated"
    )
    assert shown(await chat.items(thread_id))[-3:] == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
        ("assistant_message", "Added task #1: Water the plants."),
    ]
    assert [t["title"] for t in await chat.tasks()] == ["Water the plants"]


@pytest.mark.dynamodb_local
async def test_a_store_error_reading_the_thread_keeps_the_acknowledged_message(
    faulty_chat: tuple[FaultProxy, Chat, str],
):
    proxy, chat, thread_id = faulty_chat
    # The thread's read runs while the message is written; the message is acknowledged once it
    # is durable, then the read fails (retry included): the turn ends with a retryable error.
    proxy.fail_next("Query", "internal", times=2)
    _, _, events = await chat.say("Add a task to water the plants", thread_id)
    assert proxy.counts.faults == {"internal": 2}
    assert events[0]["type"] == "thread.item.done"
    assert events[0]["item"]["type"] == "user_message"
    assert errors(events) == [{"type": "error", "code": "stream.error", "allow_retry": True}]
    assert effects(events) == []
    assert await chat.tasks() == []
    assert shown(await chat.items(thread_id))[-1] == (
        "user_message",
        "Add a task to water the plants",
    )

    # Nothing was lost: the next turn reads the thread as it is and answers.
    _, _, events = await chat.say("Show me all my tasks", thread_id)
    assert not errors(events) and answer(events) == "You have no tasks here yet."
