"""Task widgets, progress and sources over HTTP with the local model, event by event."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.chat import assistant_text, task_rows, widget_items
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


async def collect(client: ChatKitClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in client.stream(payload)]


def index_of(events: list[dict[str, Any]], kind: str, item_type: str | None = None) -> int:
    for index, event in enumerate(events):
        if event["type"] == kind and (item_type is None or event["item"]["type"] == item_type):
            return index
    raise AssertionError(f"no {kind} {item_type or ''} in {[e['type'] for e in events]}")


async def test_list_streams_a_task_widget_with_buttons_and_a_short_answer(stack, http, user_id):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    events = await collect(
        client, create_thread_request("Add a high priority task to file taxes by 2026-12-05")
    )
    thread_id = events[0]["thread"]["id"]
    await collect(client, add_message_request(thread_id, "Add a task to buy milk"))
    await collect(client, add_message_request(thread_id, "Mark task 2 as done"))

    events = await collect(client, add_message_request(thread_id, "Show me all my tasks"))
    [listed] = widget_items(events)
    assert listed["widget"]["type"] == "ListView"
    rows = task_rows(listed["widget"])
    assert rows == [
        {
            "number": 1,
            "title": "#1 File taxes",
            "status": "Pending",
            "priority": "High priority",
            "due": "Due 2026-12-05",
            "buttons": [
                ("Complete", "task.complete", "server", {"number": 1}),
                ("Edit", "task.edit", "client", {"number": 1}),
                ("Delete", "task.delete", "server", {"number": 1}),
            ],
        },
        {
            "number": 2,
            "title": "#2 Buy milk",
            "status": "Completed",
            "priority": "Medium priority",
            "due": None,
            "buttons": [
                ("Reopen", "task.reopen", "server", {"number": 2}),
                ("Edit", "task.edit", "client", {"number": 2}),
                ("Delete", "task.delete", "server", {"number": 2}),
            ],
        },
    ]
    # The text answer is one short line beside the widget, and comes after it.
    assert assistant_text(events) == "You have 2 tasks."
    assert index_of(events, "thread.item.done", "widget") < index_of(
        events, "thread.item.done", "assistant_message"
    )
    # Reloading the thread shows the same widget.
    items = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
    )
    [reloaded] = [i for i in items["data"] if i["id"] == listed["id"]]
    assert reloaded == listed


@pytest.mark.parametrize(
    ("message", "heading", "title", "status", "answer"),
    [
        ("Add a task to buy milk", "Task added", "#2 Buy milk", "Pending", "Added task #2"),
        ("Mark task 1 as complete", "Task completed", "#1 Call mom", "Completed", "Completed"),
        ("Rename task 1 to call dad", "Task updated", "#1 call dad", "Pending", "Updated"),
        ("Delete task 1", "Task deleted", "#1 Call mom", "Pending", "Deleted task #1"),
    ],
)
async def test_each_change_streams_a_task_card(
    stack, http, user_id, message, heading, title, status, answer
):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    events = await collect(client, create_thread_request("Add a task to call mom"))
    thread_id = events[0]["thread"]["id"]

    events = await collect(client, add_message_request(thread_id, message))
    [card] = widget_items(events)
    assert card["widget"]["type"] == "Card"
    assert card["widget"]["status"]["text"] == heading
    [row] = task_rows(card["widget"])
    assert (row["title"], row["status"]) == (title, status)
    if heading == "Task deleted":
        assert row["buttons"] == []  # a deleted task has nothing left to press
    else:
        assert {b[1] for b in row["buttons"]} >= {"task.edit", "task.delete"}
    assert assistant_text(events).startswith(answer)


async def test_every_tool_call_shows_progress_before_the_answer(stack, http, user_id):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    expected = {
        "Add a task to buy milk": "Adding task…",
        "Show me all my tasks": "Looking up your tasks…",
        "Rename task 1 to buy oat milk": "Updating task…",
        "Mark task 1 as complete": "Completing task…",
        "Delete task 1": "Deleting task…",
        "Select task 1": "Selecting the task…",
    }
    thread_id = None
    for message, progress in expected.items():
        payload = (
            add_message_request(thread_id, message) if thread_id else create_thread_request(message)
        )
        events = await collect(client, payload)
        thread_id = thread_id or events[0]["thread"]["id"]
        updates = [e for e in events if e["type"] == "progress_update"]
        assert [u["text"] for u in updates] == [progress], message
        answer = next(
            i
            for i, e in enumerate(events)
            if e["type"] in ("thread.item.added", "thread.item.done")
            and e["item"]["type"] in ("assistant_message", "widget")
        )
        assert events.index(updates[0]) < answer, message


async def test_answers_about_a_task_link_to_it(stack, http, user_id):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    events = await collect(client, create_thread_request("Add a task to buy milk"))
    thread_id = events[0]["thread"]["id"]
    [done] = [
        e
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    ]
    text = done["item"]["content"][0]["text"]
    assert text == "Added task #1: Buy milk."
    assert done["item"]["content"][0]["annotations"] == [
        {
            "type": "annotation",
            "source": {
                "type": "entity",
                "id": "task-1",
                "title": "#1 Buy milk",
                "icon": "check-circle",
                "label": "Task",
                "interactive": True,
                "data": {"number": 1},
            },
            "index": text.index("#1") + 2,
        }
    ]
    # Stored with the message: a reload shows the same link.
    items = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
    )
    stored = next(i for i in items["data"] if i["id"] == done["item"]["id"])
    assert stored["content"][0]["annotations"] == done["item"]["content"][0]["annotations"]

    # An answer that names no task carries no sources; one about a missing task neither.
    for message in ("hello", "Mark task 7 as done"):
        events = await collect(client, add_message_request(thread_id, message))
        [done] = [
            e
            for e in events
            if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
        ]
        assert done["item"]["content"][0]["annotations"] == [], message
