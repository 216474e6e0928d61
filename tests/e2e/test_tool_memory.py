"""Tool memory and the history budget over HTTP, with the offline model recording its input.

- "What was the second task you listed?" is answered from the list the tool returned on an
  earlier turn, which reached the model as a function call and its output.
- A 1,000-item thread with huge items sends the model no more than HISTORY_TOKEN_BUDGET, and
  its turn costs the same DynamoDB calls as a turn on a 10-item thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.chat import assistant_text
from tests.support.ddb_calls import count_dynamodb_calls
from tests.support.e2e import Stack, start_stack
from tests.support.settings import bound_settings
from tests.support.threads import everyday_thread, seed_thread
from todo_assistant.agent.history import HistoryConverter
from todo_assistant.agent.history_budget import estimate_input_tokens
from todo_assistant.context import RequestContext
from todo_assistant.ids import new_id
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)
from todo_assistant_dev.recording_model import RecordingModel

pytestmark = pytest.mark.e2e

BUDGET = 6_000


@pytest.fixture
def recording_stack(moto_endpoint: str) -> Iterator[Stack]:
    # Stop reads start after the turn's first 10 s: a slow machine adds none to the counts.
    settings = bound_settings(
        moto_endpoint, moto_endpoint, history_token_budget=BUDGET, stop_check_seconds=10
    )
    yield from start_stack(settings, RecordingModel())


async def signed_in(stack: Stack, http: httpx.AsyncClient, user: str) -> ChatKitClient:
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user)
    return client


async def turn(client: ChatKitClient, thread_id: str | None, text: str) -> list[dict[str, Any]]:
    payload = add_message_request(thread_id, text) if thread_id else create_thread_request(text)
    events = [event async for event in client.stream(payload)]
    assert not [e for e in events if e["type"] == "error"], events
    return events


def calls_in(model_input: list[Any]) -> list[tuple[str, str]]:
    """(name, output) of the tool calls in a model input; each call is followed by its output."""
    found = []
    for index, item in enumerate(model_input):
        if item.get("type") == "function_call":
            output = model_input[index + 1]
            assert (output.get("type"), output.get("call_id")) == (
                "function_call_output",
                item["call_id"],
            )
            found.append((item["name"], output["output"]))
    return found


def text_of(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content)
    return str(content or item.get("output") or "")


async def test_the_second_task_listed_is_remembered_on_the_next_turn(recording_stack, http):
    model = recording_stack.model
    assert isinstance(model, RecordingModel)
    client = await signed_in(recording_stack, http, f"user-{uuid.uuid4().hex[:12]}")
    events = await turn(client, None, "Add a task to buy milk")
    thread_id = events[0]["thread"]["id"]
    for text in ("Add a task to call mom", "Add a task to water the plants"):
        await turn(client, thread_id, text)

    events = await turn(client, thread_id, "Show me all my tasks")
    assert assistant_text(events) == "You have 3 tasks."
    # Task #2 changes after it was listed: the answer is about what was listed.
    response = await http.delete(
        f"{recording_stack.base_url}/tasks/2",
        headers={"Authorization": f"Bearer {client.client_secret}"},
    )
    assert response.status_code == 204

    asked = len(model.inputs)
    events = await turn(client, thread_id, "What was the second task you listed?")
    assert assistant_text(events) == "The second task I listed was #2 Call mom."
    # The model got it from the tool's output, sent back as a call and its output.
    sent = calls_in(model.inputs[asked])
    assert [name for name, _ in sent] == ["add_task", "add_task", "add_task", "list_tasks"]
    assert '"title":"Call mom"' in sent[-1][1]
    # Nothing of it is shown to the client: not in the stream, not in the thread's items.
    assert "hidden_context_item" not in {e.get("item", {}).get("type") for e in events}
    page = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 100, "order": "asc"}}
    )
    assert "hidden_context_item" not in {i["type"] for i in page["data"]}

    events = await turn(client, thread_id, "What was the fifth task you listed?")
    assert assistant_text(events) == "I only listed 3 tasks."


async def test_nothing_listed_is_nothing_remembered(recording_stack, http):
    client = await signed_in(recording_stack, http, f"user-{uuid.uuid4().hex[:12]}")
    events = await turn(client, None, "What was the first task you listed?")
    assert assistant_text(events) == "I haven't listed any tasks in this conversation yet."


async def test_a_thousand_item_thread_sends_no_more_than_the_budget(recording_stack, http):
    model = recording_stack.model
    assert isinstance(model, RecordingModel)
    user = f"user-{uuid.uuid4().hex[:12]}"
    store = build_store(recording_stack.settings)
    ctx = RequestContext(user_id=user)
    client = await signed_in(recording_stack, http, user)

    measured: dict[int, Any] = {}
    for size in (10, 1_000):
        thread_id = new_id("thr")
        items = everyday_thread(thread_id, size, huge=size > 10)
        await seed_thread(store, ctx, items, thread_id)
        asked = len(model.inputs)
        with count_dynamodb_calls() as calls:
            events = await turn(client, thread_id, "Thanks!")
        assert "welcome" in assistant_text(events)
        measured[size] = calls.copy()
        history = model.inputs[asked]
        tokens = estimate_input_tokens(history)
        assert tokens <= BUDGET
        assert text_of(history[-1]) == "Thanks!"
        calls_in(history)  # every call still has its output
        if size > 10:
            # The huge items were cut, with a marker, not sent whole...
            assert sum("[… truncated " in text_of(item) for item in history) >= 1
            # ...where the item count alone would have sent far more than the budget.
            before = await HistoryConverter().to_agent_input(items[-40:])
            assert estimate_input_tokens(before) > 10 * BUDGET
    # The thread's length changes nothing in what the turn costs in DynamoDB calls.
    assert measured[10] == measured[1_000]
