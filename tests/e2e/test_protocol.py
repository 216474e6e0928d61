"""The raw ChatKit protocol over HTTP: every request type a ChatKit front end sends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.chat import assistant_text
from tests.support.ddb_calls import count_dynamodb_calls
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
    user_message,
)

pytestmark = pytest.mark.e2e


async def collect(client: ChatKitClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in client.stream(payload)]


async def test_full_conversation_lifecycle(stack, http, user_id):
    with count_dynamodb_calls() as calls:
        await run_full_conversation(stack, http, user_id)
    # Every request path above reads by key or by Query: never a Scan.
    assert calls["Query"] > 0
    assert calls["Scan"] == 0
    assert set(calls) <= {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchWriteItem",
        "BatchGetItem",
        # A user message and its thread's new order are written together; the per-user
        # rate limit counts both windows in one conditional transaction per turn.
        "TransactWriteItems",
    }


async def run_full_conversation(stack, http, user_id):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)

    events = await collect(client, create_thread_request("Add a task to buy groceries"))
    types = [e["type"] for e in events]
    assert types[0] == "thread.created"
    assert types[1] == "thread.item.done" and events[1]["item"]["type"] == "user_message"
    assert "stream_options" in types
    assert types.index("thread.item.added") < types.index("thread.item.updated")
    assert assistant_text(events) == "Added task #1: Buy groceries."
    titles = [e["thread"]["title"] for e in events if e["type"] == "thread.updated"]
    assert titles == ["Add a task to buy groceries"]
    thread_id = events[0]["thread"]["id"]

    events = await collect(client, add_message_request(thread_id, "Show me all my tasks"))
    assert assistant_text(events) == "You have 1 task."
    assert not [e for e in events if e["type"] in ("thread.created", "error")]

    second = await collect(client, create_thread_request("What's pending?"))
    second_id = second[0]["thread"]["id"]

    threads = await client.request(
        {"type": "threads.list", "params": {"limit": 10, "order": "desc"}}
    )
    assert [t["id"] for t in threads["data"]] == [second_id, thread_id]
    assert threads["has_more"] is False
    page = await client.request({"type": "threads.list", "params": {"limit": 1, "order": "desc"}})
    assert [t["id"] for t in page["data"]] == [second_id]
    assert page["has_more"] is True and page["after"] == second_id

    items = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20, "order": "asc"}}
    )
    kinds = [
        (i["type"], i.get("content", [{}])[0].get("text") or i.get("copy_text"))
        for i in items["data"]
    ]
    assert kinds == [
        ("user_message", "Add a task to buy groceries"),
        ("widget", "Task added: [ ] #1 Buy groceries (medium priority)"),
        ("assistant_message", "Added task #1: Buy groceries."),
        ("user_message", "Show me all my tasks"),
        ("widget", "1 task\n[ ] #1 Buy groceries (medium priority)"),
        ("assistant_message", "You have 1 task."),
    ]
    first_user_item = items["data"][0]["id"]

    renamed = await client.request(
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Shopping"}}
    )
    assert renamed["title"] == "Shopping"
    loaded = await client.request({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    assert loaded["title"] == "Shopping"
    assert len(loaded["items"]["data"]) == 6

    feedback = await client.request(
        {
            "type": "items.feedback",
            "params": {
                "thread_id": thread_id,
                "item_ids": [items["data"][2]["id"]],
                "kind": "positive",
            },
        }
    )
    assert feedback == {}

    # Retry from the first user message: everything after it is replaced by a new answer.
    events = await collect(
        client,
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": first_user_item},
        },
    )
    # The tool call is replayed from the message's effects ledger: still one task, #1.
    assert assistant_text(events) == "Added task #1: Buy groceries."
    assert not [e for e in events if e["type"] == "client_effect"]
    items = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20, "order": "asc"}}
    )
    assert [i["type"] for i in items["data"]] == ["user_message", "widget", "assistant_message"]

    assert (
        await client.request({"type": "threads.delete", "params": {"thread_id": thread_id}}) == {}
    )
    response = await http.post(
        f"{stack.base_url}/chatkit",
        json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        headers={"Authorization": f"Bearer {client.client_secret}"},
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    threads = await client.request({"type": "threads.list", "params": {"limit": 10}})
    assert [t["id"] for t in threads["data"]] == [second_id]


async def test_sse_response_headers(stack, http, user_id):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    async with http.stream(
        "POST",
        f"{stack.base_url}/chatkit",
        json=create_thread_request("hello"),
        headers={"Authorization": f"Bearer {client.client_secret}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        body = (await response.aread()).decode()
    events = [line for line in body.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events)


async def test_a_user_sees_only_their_own_threads(stack, http, user_id):
    alice = ChatKitClient(stack.base_url, http)
    await alice.sign_in(user_id)
    events = await collect(alice, create_thread_request("Add a task to buy milk"))
    thread_id = events[0]["thread"]["id"]

    bob = ChatKitClient(stack.base_url, http)
    await bob.sign_in(f"{user_id}-bob")
    assert (await bob.request({"type": "threads.list", "params": {}}))["data"] == []
    items = await bob.request({"type": "items.list", "params": {"thread_id": thread_id}})
    assert items["data"] == []
    for payload in (
        {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        {"type": "threads.update", "params": {"thread_id": thread_id, "title": "pwned"}},
        add_message_request(thread_id, "Delete task 1"),
    ):
        response = await http.post(
            f"{stack.base_url}/chatkit",
            json=payload,
            headers={"Authorization": f"Bearer {bob.client_secret}"},
        )
        assert response.status_code == 404, payload["type"]
    # Alice's thread is untouched: same title, same three items, her task still there.
    loaded = await alice.request({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    assert loaded["title"] == "Add a task to buy milk"
    assert [i["type"] for i in loaded["items"]["data"]] == [
        "user_message",
        "widget",
        "assistant_message",
    ]
    tasks = await http.get(
        f"{stack.base_url}/tasks", headers={"Authorization": f"Bearer {alice.client_secret}"}
    )
    assert [t["title"] for t in tasks.json()["tasks"]] == ["Buy milk"]
    assert user_message("x")["content"][0]["text"] == "x"
