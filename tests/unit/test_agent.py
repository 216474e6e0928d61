"""The Todo agent through the ChatKit server, checked in the database, not just the text."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from agents import set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from chatkit.types import AssistantMessageItem
from pynamodb.signals import pre_dynamodb_send

from tests.support.chat import (
    assistant_text,
    request_json,
    say,
    task_rows,
    text_deltas,
    widget_items,
)
from tests.support.ddb_calls import count_dynamodb_calls
from todo_assistant.chat.server import TodoChatKitServer
from todo_assistant.config import Settings
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.tasks.models import TaskCreate, TaskStatus
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_chatkit_dependencies

set_tracing_disabled(True)


@pytest.fixture
def server_for(moto_settings: Settings, tasks: TaskService) -> Callable[[Any], TodoChatKitServer]:
    """The server as the app wires it, on moto and the `tasks` service, around a given model."""

    def make_server(model: Any) -> TodoChatKitServer:
        deps = build_chatkit_dependencies(moto_settings, model_factory=lambda _: model, tasks=tasks)
        return deps.server

    return make_server


@pytest.fixture
def server(server_for: Callable[[Any], TodoChatKitServer]) -> TodoChatKitServer:
    """The server around the local model."""
    return server_for(LocalTodoModel())


async def test_local_model_conversation_changes_the_database(server, tasks, ctx):
    thread_id, events = await say(server, ctx, "Add a task to buy groceries", None)
    assert assistant_text(events) == "Added task #1: Buy groceries."
    assert len(text_deltas(events)) >= 2  # streamed in several deltas
    effects = [e for e in events if e["type"] == "client_effect"]
    assert effects == [
        {
            "type": "client_effect",
            "name": "tasks_changed",
            "data": {
                "action": "created",
                "task": {
                    "number": 1,
                    "title": "Buy groceries",
                    "description": None,
                    "priority": "medium",
                    "due_date": None,
                    "status": "pending",
                },
            },
        }
    ]
    for text in (
        "Add a task to prepare the team meeting",
        "add call mom",
        "Remind me to book the meeting room",
    ):
        await say(server, ctx, text, thread_id)
    assert [t.title for t in await tasks.list(ctx.user_id)] == [
        "Buy groceries",
        "Prepare the team meeting",
        "Call mom",
        "Book the meeting room",
    ]

    _, events = await say(server, ctx, "Mark task 3 as complete", thread_id)
    assert assistant_text(events) == "Completed task #3: Call mom."
    assert (await tasks.get(ctx.user_id, 3)).status is TaskStatus.COMPLETED

    _, events = await say(server, ctx, "What's pending?", thread_id)
    # The widget shows the details; the text stays short beside it.
    assert assistant_text(events) == "You have 3 pending tasks."
    [listed] = widget_items(events)
    assert [row["number"] for row in task_rows(listed["widget"])] == [1, 2, 4]

    _, events = await say(server, ctx, "Delete the meeting task", thread_id)
    assert "Several tasks match" in assistant_text(events)
    assert len(await tasks.list(ctx.user_id)) == 4  # nothing deleted on an ambiguous request

    _, events = await say(server, ctx, "Delete the meeting room task", thread_id)
    assert assistant_text(events) == "Deleted task #4: Book the meeting room."
    _, events = await say(server, ctx, "Rename task 2 to call the team", thread_id)
    assert assistant_text(events) == "Updated task #2: call the team."
    assert [t.title for t in await tasks.list(ctx.user_id)] == [
        "Buy groceries",
        "call the team",
        "Call mom",
    ]

    _, events = await say(server, ctx, "Show me all my tasks", thread_id)
    assert assistant_text(events) == "You have 3 tasks."
    [listed] = widget_items(events)
    assert [(r["title"], r["status"]) for r in task_rows(listed["widget"])] == [
        ("#1 Buy groceries", "Pending"),
        ("#2 call the team", "Pending"),
        ("#3 Call mom", "Completed"),
    ]
    assert listed["copy_text"].splitlines()[1:] == [
        "[ ] #1 Buy groceries (medium priority)",
        "[ ] #2 call the team (medium priority)",
        "[x] #3 Call mom (medium priority)",
    ]

    _, events = await say(server, ctx, "Mark task 9 as done", thread_id)
    assert assistant_text(events) == "There is no task #9."
    _, events = await say(server, ctx, "what's the weather like?", thread_id)
    assert "I can manage your tasks" in assistant_text(events)
    assert not [e for e in events if e["type"] == "error"]


async def test_a_turn_reads_history_once(server, ctx):
    thread_id, _ = await say(server, ctx, "Add a task to buy groceries", None)
    with count_dynamodb_calls() as calls:
        _, events = await say(server, ctx, "Show me all my tasks", thread_id)
    assert assistant_text(events) == "You have 1 task."
    # One Query for the history and one for the task list: the SDK's own "newest two items"
    # read at the start of the turn is answered from the history page.
    assert calls["Query"] == 2
    assert calls["Scan"] == 0


async def test_thread_gets_a_title_from_the_first_message(server, ctx):
    thread_id, events = await say(server, ctx, "Add a task to buy groceries", None)
    updated = [e for e in events if e["type"] == "thread.updated"]
    assert updated and updated[-1]["thread"]["title"] == "Add a task to buy groceries"
    await say(server, ctx, "Show me all my tasks", thread_id)
    stored = await server.store.load_thread(thread_id, ctx)
    assert stored.title == "Add a task to buy groceries"


async def test_scripted_model_sees_history_from_thread_items(server_for, tasks, ctx):
    model = ScriptedModel(
        [
            [function_call("add_task", {"title": "Walk the dog"}, call_id="call_1")],
            [assistant_message("Added it.", item_id="__fake_id__")],
            [assistant_message("You asked me to add a task.", item_id="__fake_id__")],
        ]
    )
    server = server_for(model)
    thread_id, _ = await say(server, ctx, "please remember to walk the dog", None)
    assert [t.title for t in await tasks.list(ctx.user_id)] == ["Walk the dog"]
    tool_output = model.calls[1].input[-1]
    assert tool_output["type"] == "function_call_output"
    assert "\n" not in tool_output["output"]
    assert json.loads(tool_output["output"])["ok"] is True

    await say(server, ctx, "what did I ask you?", thread_id)
    history = model.calls[2].input
    roles = [item.get("role") for item in history if item.get("type") == "message"]
    # The task card the tool showed is part of the history (as a user-side description).
    assert roles == ["user", "user", "assistant", "user"]
    assert history[0]["content"][0]["text"] == "please remember to walk the dog"
    assert "#1 Walk the dog" in history[1]["content"][0]["text"]
    model.assert_complete()

    # "__fake_id__" from two turns did not collapse into one stored message.
    items = await request_json(
        server, {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20}}, ctx
    )
    assistant_ids = [i["id"] for i in items["data"] if i["type"] == "assistant_message"]
    assert len(assistant_ids) == 2 and len(set(assistant_ids)) == 2
    assert all(i.startswith("msg_") for i in assistant_ids)


async def test_tools_only_touch_the_signed_in_users_tasks(server_for, tasks, ctx):
    victim = "victim-user"
    await tasks.add(victim, TaskCreate(title="Secret plan"))
    model = ScriptedModel(
        [
            [function_call("delete_task", {"task": "1"}, call_id="c1")],
            [assistant_message("ok")],
            [function_call("list_tasks", {"status": "all"}, call_id="c2")],
            [assistant_message("ok")],
        ]
    )
    server = server_for(model)
    thread_id, _ = await say(server, ctx, "delete task 1", None)
    assert json.loads(model.calls[1].input[-1]["output"]) == {
        "ok": False,
        "message": "There is no task #1.",
    }
    await say(server, ctx, "list", thread_id)
    assert json.loads(model.calls[3].input[-1]["output"])["tasks"] == []
    assert [t.title for t in await tasks.list(victim)] == ["Secret plan"]


async def test_model_failure_ends_in_an_error_event_and_a_consistent_thread(server_for, tasks, ctx):
    model = ScriptedModel([RuntimeError("upstream model is down")])
    server = server_for(model)
    thread_id, events = await say(server, ctx, "Add a task to buy groceries", None)
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[-1]["allow_retry"] is True
    stored = await server.store.load_thread_items(thread_id, None, 20, "asc", ctx)
    # The user's message, then the hidden marker that keeps the failed request out of the
    # model's later history (agent/history.py); no assistant message.
    assert [type(i).__name__ for i in stored.data] == ["UserMessageItem", "HiddenContextItem"]
    assert stored.data[1].content == {"turn_failed": "internal"}
    assert errors[-1]["message"] == "Something went wrong while answering. Please try again."
    assert "upstream" not in json.dumps(events)
    assert not [i for i in stored.data if isinstance(i, AssistantMessageItem)]
    assert await tasks.list(ctx.user_id) == []


async def test_local_model_reads_everyday_due_dates(server, tasks, ctx):
    thread_id, events = await say(server, ctx, "Add a task to buy groceries by friday", None)
    today = date.today()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    assert assistant_text(events) == f"Added task #1: Buy groceries, due {friday.isoformat()}."
    [effect] = [e for e in events if e["type"] == "client_effect"]
    assert effect["data"]["task"]["due_date"] == friday.isoformat()
    _, events = await say(server, ctx, "move task 1 to tomorrow evening", thread_id)
    task = await tasks.get(ctx.user_id, 1)
    assert (task.title, task.due_date) == ("Buy groceries", today + timedelta(days=1))


async def test_a_new_message_is_written_while_its_thread_is_read(server, ctx):
    """The thread's read (metadata + history) and the message's write go out together: the
    read is held until the write has been sent, which only works if both are in flight."""
    thread_id, _ = await say(server, ctx, "Plan the picnic", None)
    write_sent = threading.Event()
    read_saw_write: list[bool] = []

    def hold_reads(sender: Any, operation_name: str, **_: Any) -> None:
        if operation_name == "TransactWriteItems":
            write_sent.set()
        elif operation_name == "Query" and not read_saw_write:
            read_saw_write.append(write_sent.wait(timeout=10))

    pre_dynamodb_send.connect(hold_reads)
    try:
        with count_dynamodb_calls() as calls:
            _, events = await say(server, ctx, "Thanks!", thread_id)
    finally:
        pre_dynamodb_send.disconnect(hold_reads)
    assert read_saw_write == [True]
    assert calls == {"Query": 1, "TransactWriteItems": 1, "PutItem": 1}
    assert assistant_text(events)
    # What the read returned reached the SDK: the thread kept its title through the turn.
    assert (await server.store.load_thread(thread_id, ctx)).title == "Plan the picnic"
    page = await server.store.load_thread_items(thread_id, None, 10, "asc", ctx)
    assert [i.type for i in page.data] == [
        "user_message",
        "assistant_message",
        "user_message",
        "assistant_message",
    ]
