"""Stop over HTTP: `POST /chatkit/cancel` stops a slow reply where it is, keeps what it wrote,
runs no further tool; a reader that just leaves still gets the whole reply saved."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from chatkit.types import AssistantMessageItem, SDKHiddenContextItem

from tests.support.e2e import Stack, start_stack
from tests.support.settings import bound_settings
from tests.support.slow_model import ANSWER, ANSWER_DELTAS, TASK_TITLE, SlowTalker, slow_request
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.db.table import TableRow
from todo_assistant.store.stop_requests import StopRequests
from todo_assistant.tasks.models import StatusFilter
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import build_task_service
from todo_assistant_dev.chat_client import add_message_request, create_thread_request

pytestmark = pytest.mark.e2e

# The model writes a delta every 40 ms and the turn reads its stop request every 0.5 s: a stop
# is seen within about half a second, and the stream ends at once. A second's worth of deltas
# after the cancel (25) would already be slower than promised; the whole answer is 60.
DELTAS_WITHIN_A_SECOND = 25


@pytest.fixture
def slow_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint)
    yield from start_stack(settings, SlowTalker())


@pytest.fixture
def held_stack(moto_endpoint: str) -> Iterator[Stack]:
    """The slow talker, quicker (0.6 s of text), holding its tool call until the test says."""
    settings = bound_settings(moto_endpoint, moto_endpoint)
    model = SlowTalker(delay_seconds=0.01, hold_tool_call=True)
    try:
        yield from start_stack(settings, model)
    finally:
        model.tool_gate.set()


def talker(stack: Stack) -> SlowTalker:
    assert isinstance(stack.model, SlowTalker)
    return stack.model


async def sign_in(http: httpx.AsyncClient, stack: Stack, user: str) -> dict[str, str]:
    response = await http.post(f"{stack.base_url}/session", json={"user_id": user})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['client_secret']}"}


async def cancel(
    http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], thread_id: str
) -> httpx.Response:
    return await http.post(
        f"{stack.base_url}/chatkit/cancel", json={"thread_id": thread_id}, headers=headers
    )


def is_delta(event: dict[str, Any]) -> bool:
    return event["type"] == "thread.item.updated" and event["update"]["type"].endswith("text_delta")


@dataclass
class Turn:
    """What a reader saw of one streamed turn, split at the moment it acted."""

    thread_id: str | None = None
    before: list[dict[str, Any]] = field(default_factory=list)
    after: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.before + self.after

    def deltas_after(self) -> int:
        return sum(1 for event in self.after if is_delta(event))

    def done_items(self) -> list[str]:
        return [e["item"]["type"] for e in self.events if e["type"] == "thread.item.done"]


@asynccontextmanager
async def streamed(
    http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], payload: dict[str, Any]
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    async with http.stream(
        "POST", f"{stack.base_url}/chatkit", json=payload, headers=headers
    ) as response:
        assert response.status_code == 200

        async def events() -> AsyncIterator[dict[str, Any]]:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[6:])

        yield events()


async def run_turn(
    http: httpx.AsyncClient,
    stack: Stack,
    headers: dict[str, str],
    payload: dict[str, Any],
    *,
    after_deltas: int = 3,
    act: Any = None,
) -> Turn:
    """Stream a turn to its end; after `after_deltas` text deltas, await `act(turn)` once."""
    turn = Turn(thread_id=payload["params"].get("thread_id"))
    acted = False
    async with streamed(http, stack, headers, payload) as events:
        async for event in events:
            (turn.after if acted else turn.before).append(event)
            if event["type"] == "thread.created":
                turn.thread_id = event["thread"]["id"]
            deltas = sum(1 for e in turn.before if is_delta(e))
            if not acted and act is not None and deltas == after_deltas:
                await act(turn)
                acted = True
    return turn


async def items_of(stack: Stack, user: str, thread_id: str) -> list[Any]:
    """Every item of the thread as stored, hidden ones included."""
    store = build_store(stack.settings)
    page = await store.load_thread_items(thread_id, None, 100, "asc", RequestContext(user))
    return list(page.data)


async def task_titles(stack: Stack, user: str) -> list[str]:
    tasks = await build_task_service(stack.settings).list(user, StatusFilter.ALL, None)
    return [task.title for task in tasks]


def text_of(item: Any) -> str:
    assert isinstance(item, AssistantMessageItem), item
    return "".join(part.text for part in item.content)


async def test_cancel_stops_a_slow_reply_keeps_its_partial_text_and_runs_no_tool(
    slow_stack, http, user_id
):
    stack = slow_stack
    headers = await sign_in(http, stack, user_id)
    answers: list[httpx.Response] = []

    async def stop(turn: Turn) -> None:
        assert turn.thread_id is not None
        answers.append(await cancel(http, stack, headers, turn.thread_id))

    turn = await run_turn(http, stack, headers, create_thread_request(slow_request()), act=stop)
    assert turn.thread_id is not None
    assert answers[0].status_code == 202, answers[0].text
    assert answers[0].json() == {"thread_id": turn.thread_id, "status": "stop_requested"}

    options = [e for e in turn.events if e["type"] == "stream_options"]
    assert options[0]["stream_options"]["allow_cancel"] is True
    # The stream ended soon after the cancel, in the middle of the answer, without an error.
    assert turn.deltas_after() <= DELTAS_WITHIN_A_SECOND
    assert "assistant_message" not in turn.done_items()
    assert "error" not in [e["type"] for e in turn.events]

    # Saved: the user's message, the answer as far as it went, and the SDK's hidden note that
    # the user stopped it (so the next turn does not carry on with it).
    items = await items_of(stack, user_id, turn.thread_id)
    assert [type(i).__name__ for i in items] == [
        "UserMessageItem",
        "AssistantMessageItem",
        "SDKHiddenContextItem",
    ]
    partial = text_of(items[1])
    assert partial and ANSWER.startswith(partial.rstrip()) and len(partial) < len(ANSWER)
    assert isinstance(items[2], SDKHiddenContextItem) and "cancelled" in items[2].content
    # No tool ran (the answer would have ended in add_task) and no model call followed.
    assert await task_titles(stack, user_id) == []
    assert talker(stack).calls == 1

    # The client sees the same thread: the hidden note is not an item it lists.
    listed = await http.post(
        f"{stack.base_url}/chatkit",
        json={"type": "items.list", "params": {"thread_id": turn.thread_id, "order": "asc"}},
        headers=headers,
    )
    assert [i["type"] for i in listed.json()["data"]] == ["user_message", "assistant_message"]

    # The next turn works, in the same thread.
    nxt = await run_turn(
        http, stack, headers, add_message_request(turn.thread_id, "Add a task to buy milk")
    )
    assert nxt.done_items()[-1] == "assistant_message"
    replies = [e["item"] for e in nxt.events if e["type"] == "thread.item.done"]
    assert replies[-1]["content"][0]["text"] == "Added task #1: Buy milk."
    assert await task_titles(stack, user_id) == ["Buy milk"]


async def test_a_stop_requested_just_before_a_tool_call_runs_no_tool(held_stack, http, user_id):
    stack = held_stack
    model = talker(stack)
    headers = await sign_in(http, stack, user_id)
    answers: list[httpx.Response] = []

    async def stop_then_let_the_tool_call_come(turn: Turn) -> None:
        assert turn.thread_id is not None
        # The text is written (over half a second: the turn now reads before every tool) and
        # the model is about to call add_task; the stop request lands just before that call.
        assert await asyncio.to_thread(model.holding.wait, 20)
        answers.append(await cancel(http, stack, headers, turn.thread_id))
        model.tool_gate.set()

    turn = await run_turn(
        http,
        stack,
        headers,
        create_thread_request(slow_request()),
        after_deltas=ANSWER_DELTAS,
        act=stop_then_let_the_tool_call_come,
    )
    assert turn.thread_id is not None
    assert answers[0].status_code == 202, answers[0].text
    assert await task_titles(stack, user_id) == []
    assert model.calls == 1
    items = await items_of(stack, user_id, turn.thread_id)
    assert [type(i).__name__ for i in items] == [
        "UserMessageItem",
        "AssistantMessageItem",
        "SDKHiddenContextItem",
    ]
    assert text_of(items[1]) == ANSWER


@asynccontextmanager
async def stop_reads() -> AsyncIterator[list[str]]:
    """The sort keys of stop rows read while the block runs (GetItem on a CANCEL key)."""
    keys_read: list[str] = []
    client = TableRow._get_connection().connection.client

    def record(params: dict[str, Any], **_: Any) -> None:
        sort_key = params.get("Key", {}).get("sk", {}).get("S", "")
        if sort_key.endswith("#CANCEL"):
            keys_read.append(sort_key)

    client.meta.events.register("provide-client-params.dynamodb.GetItem", record)
    try:
        yield keys_read
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.GetItem", record)


async def finished_whole(stack: Stack, user: str, turn: Turn) -> None:
    assert turn.thread_id is not None
    assert sum(1 for e in turn.events if is_delta(e)) >= ANSWER_DELTAS
    assert "error" not in [e["type"] for e in turn.events]
    items = await items_of(stack, user, turn.thread_id)
    kinds = [type(i).__name__ for i in items]
    assert "SDKHiddenContextItem" not in kinds, kinds
    texts = [text_of(i) for i in items if isinstance(i, AssistantMessageItem)]
    assert ANSWER in texts and f"Added task #1: {TASK_TITLE}." in texts, texts
    assert await task_titles(stack, user) == [TASK_TITLE]


async def test_another_users_cancel_is_refused_and_does_not_stop_the_turn(
    slow_stack, http, user_id
):
    stack = slow_stack
    alice = await sign_in(http, stack, user_id)
    bob = await sign_in(http, stack, f"{user_id}-bob")
    answers: list[httpx.Response] = []

    async def bob_cancels(turn: Turn) -> None:
        assert turn.thread_id is not None
        answers.append(await cancel(http, stack, bob, turn.thread_id))

    async with stop_reads() as reads:
        turn = await run_turn(
            http, stack, alice, create_thread_request(slow_request()), act=bob_cancels
        )
    assert turn.thread_id is not None
    assert answers[0].status_code == 404 and answers[0].json()["error"] == "not_found"
    # Bob's refused request wrote nothing; alice's turn read her own row and went on.
    assert StopRequests().requested_at_sync(f"{user_id}-bob", turn.thread_id) is None
    assert set(reads) == {keys.cancel_sk(turn.thread_id)}
    await finished_whole(stack, user_id, turn)


async def test_a_cancel_made_before_a_turn_does_not_stop_it(slow_stack, http, user_id):
    stack = slow_stack
    headers = await sign_in(http, stack, user_id)
    first = await run_turn(http, stack, headers, create_thread_request("Hello"))
    assert first.thread_id is not None
    # Stop pressed when nothing was running (or a late cancel of a finished turn): harmless.
    answer = await cancel(http, stack, headers, first.thread_id)
    assert answer.status_code == 202, answer.text

    async with stop_reads() as reads:
        turn = await run_turn(
            http, stack, headers, add_message_request(first.thread_id, slow_request())
        )
    # The turn read the request (more than once: it ran for seconds) and ignored it: older.
    assert len(reads) >= 2
    await finished_whole(stack, user_id, turn)


async def test_a_reader_that_leaves_without_cancelling_still_gets_its_reply_saved(
    slow_stack, http, user_id
):
    stack = slow_stack
    headers = await sign_in(http, stack, user_id)
    thread_id = None
    async with streamed(http, stack, headers, create_thread_request(slow_request())) as events:
        deltas = 0
        async for event in events:
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
            deltas += is_delta(event)
            if deltas == 3:
                break  # a page refresh: the connection goes, no cancel is sent
    assert thread_id is not None

    # The turn runs on to its end (bounded wait: it needs about three seconds).
    for _ in range(200):
        if (
            await task_titles(stack, user_id)
            and len(await items_of(stack, user_id, thread_id)) >= 4
        ):
            break
        await asyncio.sleep(0.05)
    items = await items_of(stack, user_id, thread_id)
    texts = [text_of(i) for i in items if isinstance(i, AssistantMessageItem)]
    assert texts == [ANSWER, f"Added task #1: {TASK_TITLE}."], texts
    assert not any(isinstance(i, SDKHiddenContextItem) for i in items)
    assert await task_titles(stack, user_id) == [TASK_TITLE]


async def test_cancel_route_refuses_bad_requests_and_writes_nothing(stack, http, user_id):
    headers = await sign_in(http, stack, user_id)
    url = f"{stack.base_url}/chatkit/cancel"
    made_up = "thr_01notathread"

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"json": {"thread_id": made_up}, "headers": headers}, 404, "not_found"),
        ({"json": {"thread_id": "thr#META"}, "headers": headers}, 404, "not_found"),
        ({"json": {}, "headers": headers}, 400, "invalid_request"),
        ({"json": {"thread_id": 7}, "headers": headers}, 400, "invalid_request"),
        (
            {"json": {"thread_id": "t", "user_id": "bob"}, "headers": headers},
            400,
            "invalid_request",
        ),
        ({"content": b"{not json", "headers": headers}, 400, "invalid_request"),
        (
            {"content": b"thread_id=t", "headers": {**headers, "content-type": "text/plain"}},
            415,
            "unsupported_media_type",
        ),
        ({"json": {"thread_id": made_up}}, 401, "unauthorized"),
        (
            {"json": {"thread_id": made_up}, "headers": {"Authorization": "Bearer forged"}},
            401,
            "unauthorized",
        ),
    ]
    for request, status, error in cases:
        response = await http.post(url, **request)
        assert (response.status_code, response.json()["error"]) == (status, error), request
    assert StopRequests().requested_at_sync(user_id, made_up) is None
