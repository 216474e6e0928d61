"""Thread history -> model input, fed through the Agents SDK's own converters for each path."""

from __future__ import annotations

from typing import Any

import pytest
from agents.exceptions import UserError
from agents.models.chatcmpl_converter import Converter
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    ClientToolCallItem,
    FileAttachment,
    HiddenContextItem,
    ThreadItem,
    UserMessageTagContent,
)
from openai.types.responses import ResponseInputParam
from pydantic import TypeAdapter

from tests.support.items import assistant, at, user
from todo_assistant.agent.history import (
    FAILED_TURN_NOTE,
    HistoryConverter,
    failed_turn_marker,
    without_failed_turns,
)


def conversation() -> list[ThreadItem]:
    return [
        user("u1", "Add a task to buy milk"),
        assistant("a1", "Added task #1: ", "Buy milk."),
        user("u2", "Open task 1"),
        ClientToolCallItem(
            id="c1",
            thread_id="thr_1",
            created_at=at(),
            status="completed",
            call_id="call_1",
            name="select_task",
            arguments={"number": 1},
            output={"ok": True},
        ),
        assistant("a2", "Opened #1."),
        HiddenContextItem(id="h1", thread_id="thr_1", created_at=at(), content={"tasks": [1]}),
        user(
            "u3",
            "Delete it, see ",
            tags=[UserMessageTagContent(id="task-1", text="Buy milk", data={"number": 1})],
            attachments=[FileAttachment(id="att_1", name="list.txt", mime_type="text/plain")],
        ),
        assistant("a3", "Deleting #1 Bu"),  # a partial answer of a failed turn...
        failed_turn_marker("m1", "thr_1", "connection_lost", incomplete_item_id="a3"),
        user("u4", "What's pending?"),
    ]


def chat_messages(items: list[Any]) -> list[dict[str, Any]]:
    return [dict(m) for m in Converter.items_to_messages(items, model="gpt-test")]


async def test_chatkits_default_history_fails_on_chat_completions():
    """What broke every second turn on Chat Completions and LiteLLM."""
    items = await ThreadItemConverter().to_agent_input(conversation()[:2])
    with pytest.raises(UserError, match="Unknown content"):
        Converter.items_to_messages(items, model="gpt-test")


async def test_history_is_accepted_by_chat_completions():
    items = await HistoryConverter().to_agent_input(conversation())
    messages = chat_messages(items)
    summary = [
        (m["role"], m.get("content") if isinstance(m.get("content"), str) else None)
        for m in messages
    ]
    assert summary[:3] == [
        ("user", None),
        ("assistant", "Added task #1: Buy milk."),
        ("user", None),
    ]
    # The client tool call and its output, as Chat Completions wants them.
    tool_call = messages[3]
    assert tool_call["role"] == "assistant"
    assert tool_call["tool_calls"][0]["id"] == "call_1"
    assert tool_call["tool_calls"][0]["function"]["name"] == "select_task"
    assert messages[4] == {"role": "tool", "tool_call_id": "call_1", "content": '{"ok": true}'}
    assert messages[5] == {"role": "assistant", "content": "Opened #1."}
    texts = [
        part["text"]
        for m in messages[6:]
        for part in (m["content"] if isinstance(m["content"], list) else [])
    ]
    joined = "\n".join(texts)
    assert '{"tasks": [1]}' in joined  # hidden context, as JSON text
    assert FAILED_TURN_NOTE in joined
    # The failed turn's request and its partial answer are not sent again.
    assert "Delete it" not in joined and "Deleting" not in str(messages)
    assert texts[-1] == "What's pending?"


async def test_history_is_valid_responses_input():
    items = await HistoryConverter().to_agent_input(conversation())
    TypeAdapter(ResponseInputParam).validate_python(items)
    assistants = [i for i in items if i.get("role") == "assistant"]
    assert assistants == [
        {"type": "message", "role": "assistant", "content": "Added task #1: Buy milk."},
        {"type": "message", "role": "assistant", "content": "Opened #1."},
    ]
    assert [i["type"] for i in items if i.get("type", "").startswith("function")] == [
        "function_call",
        "function_call_output",
    ]


async def test_tags_and_attachments_become_text():
    items = await HistoryConverter().to_agent_input(conversation()[6:7])
    messages = chat_messages(items)
    text = str(messages)
    assert '@Buy milk refers to: {"number": 1}' in text
    assert "list.txt (text/plain" in text


def test_a_retried_turn_is_no_longer_failed():
    items = conversation()
    # threads.retry_after_item deletes everything after the user message, marker included.
    retried = items[: items.index(next(i for i in items if i.id == "u3")) + 1]
    assert [i.id for i in without_failed_turns(retried)][-1] == "u3"
    assert "u3" not in [i.id for i in without_failed_turns(items)]
    assert "m1" in [i.id for i in without_failed_turns(items)]


async def test_empty_assistant_messages_are_left_out():
    items = await HistoryConverter().to_agent_input([user("u1", "hi"), assistant("a1", "")])
    assert [i.get("role") for i in items] == ["user"]
