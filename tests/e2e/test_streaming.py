"""SSE leaves the process while the model is still writing; a reader leaving mid-turn is safe."""

from __future__ import annotations

import asyncio
import json

import pytest

from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


def is_delta(event: dict) -> bool:
    return event["type"] == "thread.item.updated" and event["update"]["type"].endswith("text_delta")


async def test_events_arrive_before_the_model_finishes(gated_stack, http, user_id):
    model = gated_stack.model
    client = ChatKitClient(gated_stack.base_url, http)
    await client.sign_in(user_id)
    seen_before_gate: list[str] = []
    seen_after_gate: list[str] = []
    async for event in client.stream(create_thread_request("Add a task to buy groceries")):
        if not model.gate.is_set():
            seen_before_gate.append(event["type"])
            if is_delta(event):
                # The model is now blocked before its next delta: everything so far was
                # flushed through uvicorn to this socket while the turn is still running.
                model.gate.set()
        else:
            seen_after_gate.append(event["type"])
    assert not model.gate_timed_out
    assert seen_before_gate[0] == "thread.created"
    assert seen_before_gate[-1] == "thread.item.updated"
    assert "thread.item.done" in seen_after_gate  # the assistant message completed later
    assert seen_after_gate.count("thread.item.updated") >= 1


async def test_reader_disconnect_leaves_a_consistent_thread(gated_stack, http, user_id):
    model = gated_stack.model
    client = ChatKitClient(gated_stack.base_url, http)
    await client.sign_in(user_id)
    thread_id = None
    async with http.stream(
        "POST",
        f"{gated_stack.base_url}/chatkit",
        json=create_thread_request("Add a task to buy groceries"),
        headers={"Authorization": f"Bearer {client.client_secret}"},
    ) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
            if is_delta(event):
                break  # the reader goes away in the middle of the answer
    model.gate.set()
    assert thread_id is not None

    # Wait until the server side has settled the turn (bounded; it never needs long).
    items: list[dict] = []
    for _ in range(100):
        page = await client.request(
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20, "order": "asc"}}
        )
        items = page["data"]
        if len(items) >= 3:
            break
        await asyncio.sleep(0.05)
    # The turn ran to completion after the reader left, and was saved whole.
    assert [i["type"] for i in items] == ["user_message", "widget", "assistant_message"]
    assert items[2]["content"][0]["text"] == "Added task #1: Buy groceries."

    # The thread keeps working afterwards.
    model.gate.set()
    events = [
        e async for e in client.stream(add_message_request(thread_id, "Show me all my tasks"))
    ]
    assert not [e for e in events if e["type"] == "error"]
    assert any(
        e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message" for e in events
    )
