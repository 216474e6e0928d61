"""Task widgets, sources and the local model's dashboard phrases, without a network."""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from chatkit.types import WidgetItem

from tests.support.chat import task_rows
from todo_assistant.agent.sources import task_annotations
from todo_assistant.llm.local.phrases import client_tool_reply, parse_client_tool_request
from todo_assistant.tasks.models import Priority, Task, TaskStatus
from todo_assistant.widgets.tasks import read_view, task_card_widget, task_list_widget

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def task(number: int, title: str, **fields: object) -> Task:
    return Task.model_validate(
        {"number": number, "title": title, "created_at": NOW, "updated_at": NOW, **fields}
    )


def test_widget_files_match_their_readable_source():
    spec = importlib.util.spec_from_file_location(
        "build_widget_templates", ROOT / "scripts/build_widget_templates.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.FILES.items():
        assert (module.OUT / name).read_text() == text, name


def test_a_widget_read_back_from_storage_tells_what_it_shows():
    tasks = [
        task(3, 'Say "hi"', priority=Priority.HIGH, due_date=date(2026, 12, 5)),
        task(7, "Done thing", status=TaskStatus.COMPLETED),
    ]
    widget = task_list_widget(tasks, "2 tasks", {7: "confirm"})
    stored = WidgetItem.model_validate_json(
        WidgetItem(id="w", thread_id="t", created_at=NOW, widget=widget).model_dump_json()
    )
    view = read_view(stored.widget)
    assert view is not None
    assert (view.kind, view.numbers, view.heading) == ("list", (3, 7), "2 tasks")
    rows = task_rows(stored.widget.model_dump())
    assert rows[0]["title"] == '#3 Say "hi"'
    assert rows[0]["due"] == "Due 2026-12-05"
    assert [b[1] for b in rows[1]["buttons"]] == ["task.delete.confirm", "task.delete.cancel"]

    card = read_view(task_card_widget(tasks[0], "Task added"))
    assert card is not None and (card.kind, card.numbers) == ("card", (3,))
    empty = read_view(task_list_widget([], "No tasks"))
    assert empty is not None and empty.numbers == ()


def test_only_tasks_shown_this_turn_are_linked_once_each():
    annotations = task_annotations("#2 and #2 again, #5 and #12", {2: "Milk", 12: "Bread"})
    assert [(a.source.id, a.source.title, a.index) for a in annotations] == [
        ("task-2", "#2 Milk", 2),
        ("task-12", "#12 Bread", 27),
    ]


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("show me only what's pending on the board", "show_tasks", {"filter": "pending"}),
        ("Show completed tasks on the dashboard", "show_tasks", {"filter": "completed"}),
        ("show everything on the board", "show_tasks", {"filter": "all"}),
        (
            "Show tasks about milk on the board",
            "show_tasks",
            {"filter": "all", "query": "milk"},
        ),
        ("select task 2", "select_task", {"number": 2}),
        ("Please highlight #4", "select_task", {"number": 4}),
        ("open task 3 for editing", "open_task_editor", {"number": 3}),
        ("edit task 5", "open_task_editor", {"number": 5}),
        ("Open the editor for task 6", "open_task_editor", {"number": 6}),
    ],
)
def test_dashboard_phrases(text, name, arguments):
    call = parse_client_tool_request(text)
    assert call is not None
    assert (call.name, call.arguments) == (name, arguments)


@pytest.mark.parametrize(
    "text", ["Show me all my tasks", "What's pending?", "edit task 2 to say hello", "hello"]
)
def test_chat_phrases_stay_with_the_task_tools(text):
    assert parse_client_tool_request(text) is None


def test_replies_once_the_dashboard_answered():
    assert (
        client_tool_reply("show_tasks", {"filter": "pending"}, '{"ok": true}')
        == "The board now shows your pending tasks."
    )
    assert client_tool_reply("select_task", {"number": 2}, "null") == (
        "Task #2 is selected on the board."
    )
    assert client_tool_reply("open_task_editor", {"number": 2}, '{"error": "no editor"}') == (
        "The dashboard could not do that: no editor"
    )
    refused = '{"ok": false, "message": "There is no task #9."}'
    assert client_tool_reply("select_task", {"number": 9}, refused) == "There is no task #9."
