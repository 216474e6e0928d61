"""The local model's grammar: everyday phrasings -> the right tool call."""

from __future__ import annotations

from datetime import date

import pytest

from todo_assistant.agent.tools import tool_result
from todo_assistant.llm.local.intents import (
    MAX_REQUEST_CHARS,
    describe_tool_result,
    parse_request,
    small_talk,
)

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("message", "tool", "arguments"),
    [
        ("Add a task to buy groceries", "add_task", {"title": "Buy groceries"}),
        ("add buy milk to my list", "add_task", {"title": "Buy milk"}),
        (
            "Can you add a task to water the plants please?",
            "add_task",
            {"title": "Water the plants"},
        ),
        ("Remind me to call the bank", "add_task", {"title": "Call the bank"}),
        ("Create task: Team meeting prep", "add_task", {"title": "Team meeting prep"}),
        (
            "Add a high priority task to file taxes by tomorrow",
            "add_task",
            {"title": "File taxes", "priority": "high", "due_date": "2026-11-24"},
        ),
        ("add pay rent (urgent)", "add_task", {"title": "Pay rent", "priority": "high"}),
        ("Show me all my tasks", "list_tasks", {"status": "all"}),
        ("list my tasks", "list_tasks", {"status": "all"}),
        ("What are my tasks?", "list_tasks", {"status": "all"}),
        ("show my completed tasks", "list_tasks", {"status": "completed"}),
        ("show pending tasks", "list_tasks", {"status": "pending"}),
        ("show tasks about milk", "list_tasks", {"status": "all", "text": "milk"}),
        ("What's pending?", "list_tasks", {"status": "pending"}),
        ("what is left", "list_tasks", {"status": "pending"}),
        ("What's done?", "list_tasks", {"status": "completed"}),
        ("Mark task 3 as complete", "complete_task", {"task": "task 3"}),
        ("mark task 3 as done", "complete_task", {"task": "task 3"}),
        ("complete task 3", "complete_task", {"task": "task 3"}),
        ("I finished the groceries task", "complete_task", {"task": "the groceries task"}),
        ("Delete the meeting task", "delete_task", {"task": "the meeting task"}),
        ("remove task 4", "delete_task", {"task": "task 4"}),
        ("Rename task 2 to call mom", "update_task", {"task": "task 2", "title": "call mom"}),
        ("change task 2 to call dad", "update_task", {"task": "task 2", "title": "call dad"}),
        ('rename task 2 to "Call Mom"', "update_task", {"task": "task 2", "title": "Call Mom"}),
        ("set task 1 to high priority", "update_task", {"task": "task 1", "priority": "high"}),
        ("mark task 2 as not done", "update_task", {"task": "task 2", "status": "pending"}),
        (
            "set the due date of task 5 to tomorrow",
            "update_task",
            {"task": "task 5", "due_date": "2026-11-24"},
        ),
        # Everyday due dates (TODAY is a Monday).
        (
            "Add a task to buy groceries by friday",
            "add_task",
            {"title": "Buy groceries", "due_date": "2026-11-27"},
        ),
        (
            "add call the plumber next Monday",
            "add_task",
            {"title": "Call the plumber", "due_date": "2026-11-30"},
        ),
        (
            "remind me to pay rent on 5 December",
            "add_task",
            {"title": "Pay rent", "due_date": "2026-12-05"},
        ),
        (
            "Add a task to water the plants in 3 days please",
            "add_task",
            {"title": "Water the plants", "due_date": "2026-11-26"},
        ),
        (
            "add take out the bins tomorrow evening",
            "add_task",
            {"title": "Take out the bins", "due_date": "2026-11-24"},
        ),
        (
            "add renew passport by friday (urgent)",
            "add_task",
            {"title": "Renew passport", "priority": "high", "due_date": "2026-11-27"},
        ),
        (
            "add renew passport (urgent) by friday",
            "add_task",
            {"title": "Renew passport", "priority": "high", "due_date": "2026-11-27"},
        ),
        (
            "set the due date of task 5 to next friday",
            "update_task",
            {"task": "task 5", "due_date": "2026-12-04"},
        ),
        ("move task 2 to friday", "update_task", {"task": "task 2", "due_date": "2026-11-27"}),
        (
            "postpone the groceries task until 5 dec",
            "update_task",
            {"task": "the groceries task", "due_date": "2026-12-05"},
        ),
        # Whitespace of any kind and length reads like one space.
        ("show\n\t   my    tasks", "list_tasks", {"status": "all"}),
        ("Mark task 3      as     complete", "complete_task", {"task": "task 3"}),
    ],
)
def test_requests_become_tool_calls(message, tool, arguments):
    call = parse_request(message, today=TODAY)
    assert call is not None, message
    assert (call.name, call.arguments) == (tool, arguments)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "what's the weather like",
        "tell me a joke",
        "🙂",
        "add",
        "   ",
        "add " + "x" * MAX_REQUEST_CHARS,
    ],
)
def test_other_messages_are_not_tool_calls(message):
    assert parse_request(message, today=TODAY) is None


def test_small_talk_and_help():
    assert small_talk("hello") is not None and "Add a task" in small_talk("hello")
    assert small_talk("thanks!") is not None
    assert small_talk("what can you do?") is not None
    assert small_talk("buy milk") is None


def test_replies_are_written_from_tool_output():
    listing = tool_result(
        True,
        "2 pending tasks",
        tasks=[
            {
                "number": 1,
                "title": "Buy milk",
                "status": "pending",
                "priority": "high",
                "due_date": None,
            },
            {
                "number": 3,
                "title": "Call mom",
                "status": "completed",
                "priority": "medium",
                "due_date": "2026-12-01",
            },
        ],
    )
    assert describe_tool_result("list_tasks", listing) == (
        "You have 2 pending tasks:\n- [ ] #1 Buy milk (high priority)\n- [x] #3 Call mom (due 2026-12-01)"
    )
    assert describe_tool_result("list_tasks", tool_result(True, "0 tasks", tasks=[])) == (
        "You have no tasks here yet."
    )
    assert describe_tool_result("add_task", tool_result(True, "Added task #4: Walk")) == (
        "Added task #4: Walk."
    )
    ambiguous = tool_result(
        False,
        "Several tasks match 'meeting'; ask which one by number.",
        candidates=[{"number": 2, "title": "Team meeting", "status": "pending"}],
    )
    assert describe_tool_result("delete_task", ambiguous).splitlines() == [
        "Several tasks match 'meeting'; ask which one by number.",
        "- [ ] #2 Team meeting",
    ]
    assert describe_tool_result("add_task", "not json") == "Done."
