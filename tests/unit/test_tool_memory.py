"""Tool memory: each tool call and its output kept in the thread, given back to the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, set_tracing_disabled
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem
from agents.models.chatcmpl_converter import Converter
from agents.testing import ScriptedModel, assistant_message, function_call
from chatkit.types import (
    AssistantMessageItem,
    HiddenContextItem,
    ProgressUpdateEvent,
    ThreadItemDoneEvent,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
)
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseInputParam,
    ResponseOutputMessage,
    ResponseOutputText,
)
from pydantic import TypeAdapter

from tests.support.chat import assistant_text, request_json, say, stream_events
from tests.support.ddb_calls import count_dynamodb_calls
from tests.support.items import at
from todo_assistant.agent.history import HistoryConverter
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.agent.tool_memory import (
    ToolCallRecord,
    ToolCallRecorder,
    remember_tool_calls,
    tool_call_record,
)
from todo_assistant.chat.server import TodoChatKitServer
from todo_assistant.config import Settings
from todo_assistant.tasks.models import TaskCreate
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.chat_client import client_tool_output_request

set_tracing_disabled(True)
AGENT: Agent[Any] = Agent(name="test")


def call_item(call_id: str, name: str = "list_tasks", arguments: str = "{}") -> ToolCallItem:
    raw = ResponseFunctionToolCall(
        type="function_call", call_id=call_id, name=name, arguments=arguments, id=f"fc_{call_id}"
    )
    return ToolCallItem(agent=AGENT, raw_item=raw)


def output_item(call_id: str, output: str = '{"ok":true}') -> ToolCallOutputItem:
    raw = {"type": "function_call_output", "call_id": call_id, "output": output}
    return ToolCallOutputItem(agent=AGENT, raw_item=raw, output=output)


def message_item(text: str) -> MessageOutputItem:
    raw = ResponseOutputMessage(
        id="msg_1",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )
    return MessageOutputItem(agent=AGENT, raw_item=raw)


# -- the record -----------------------------------------------------------------------------
async def test_a_record_is_a_hidden_item_and_goes_back_to_the_model_as_a_call_and_its_output():
    record = ToolCallRecord(
        call_id="call_1",
        name="list_tasks",
        arguments='{"status":"all"}',
        output='{"ok":true,"tasks":[{"number":1,"title":"Buy milk"}]}',
    )
    item = record.to_item("tc_1", "thr_1")
    assert isinstance(item, HiddenContextItem)
    assert tool_call_record(item) == record
    stored = TypeAdapter(HiddenContextItem).validate_json(item.model_dump_json())
    assert tool_call_record(stored) == record

    history = await HistoryConverter().to_agent_input([item])
    assert history == [
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "list_tasks",
            "arguments": '{"status":"all"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": record.output},
    ]
    TypeAdapter(ResponseInputParam).validate_python(history)
    messages = [dict(m) for m in Converter.items_to_messages(history, model="gpt-test")]
    assert messages[0]["role"] == "assistant"
    assert messages[0]["tool_calls"][0]["id"] == "call_1"
    assert messages[1] == {"role": "tool", "tool_call_id": "call_1", "content": record.output}


def test_other_hidden_items_are_not_records():
    for content in ({"turn_failed": "internal"}, "a note", {"tool_call": {"name": "x"}}):
        item = HiddenContextItem(id="h1", thread_id="thr_1", created_at=at(), content=content)
        assert tool_call_record(item) is None


# -- pairing the run's items ----------------------------------------------------------------
def test_calls_are_paired_with_their_outputs_by_call_id_each_once():
    recorder = ToolCallRecorder(lambda: False)
    items: list[Any] = [call_item("a", arguments='{"title":"A"}'), call_item("b")]
    assert recorder.completed(items) == []  # no output yet: nothing to keep
    items += [output_item("b", "B"), output_item("a", "A"), output_item("ghost")]
    records = recorder.completed(items)
    assert [(r.call_id, r.arguments, r.output) for r in records] == [
        ("b", "{}", "B"),
        ("a", '{"title":"A"}', "A"),
    ]
    assert recorder.completed(items) == []  # already returned
    items += [message_item("done"), call_item("c"), output_item("c")]
    assert [r.call_id for r in recorder.completed(items)] == ["c"]


def test_the_call_that_asked_the_browser_is_left_to_chatkit():
    asked = False
    recorder = ToolCallRecorder(lambda: asked)
    items: list[Any] = [call_item("a"), output_item("a"), call_item("client", "show_tasks")]
    asked = True
    items.append(output_item("client"))
    assert [r.call_id for r in recorder.completed(items)] == ["a"]


async def test_records_are_emitted_before_the_next_event_and_when_the_run_fails():
    run_items: list[Any] = []
    made: list[str] = []

    def new_item(record: ToolCallRecord) -> HiddenContextItem:
        made.append(record.call_id)
        return record.to_item(f"tc_{record.call_id}", "thr_1")

    async def source() -> AsyncIterator[ThreadStreamEvent]:
        yield ProgressUpdateEvent(text="first")
        run_items.extend([call_item("a"), output_item("a")])
        yield ProgressUpdateEvent(text="second")
        run_items.extend([call_item("b"), output_item("b")])
        raise RuntimeError("model down")

    seen: list[str] = []

    async def read() -> None:
        recorder = ToolCallRecorder(lambda: False)
        async for event in remember_tool_calls(source(), lambda: run_items, recorder, new_item):
            if isinstance(event, ThreadItemDoneEvent):
                seen.append(event.item.id)
            else:
                assert isinstance(event, ProgressUpdateEvent)
                seen.append(event.text)

    with pytest.raises(RuntimeError, match="model down"):
        await read()
    # The second call completed before the failure: it is recorded all the same.
    assert seen == ["first", "tc_a", "second", "tc_b"]
    assert made == ["a", "b"]


# -- through the server ---------------------------------------------------------------------
def make_server(settings: Settings, tasks: TaskService, model: Any) -> TodoChatKitServer:
    return TodoChatKitServer(build_store(settings), build_todo_agent(model, tasks), tasks=tasks)


def calls_in(model_input: list[Any]) -> list[tuple[str, str, str]]:
    """(call_id, name, output) of every call in a model input, each followed by its output."""
    found = []
    for index, item in enumerate(model_input):
        if item.get("type") == "function_call":
            output = model_input[index + 1]
            assert (output["type"], output["call_id"]) == ("function_call_output", item["call_id"])
            found.append((item["call_id"], item["name"], output["output"]))
    return found


async def test_a_tool_call_is_kept_hidden_and_sent_on_the_next_turn(moto_settings, tasks, ctx):
    for title in ("Buy milk", "Call mom", "Water the plants"):
        await tasks.add(ctx.user_id, TaskCreate(title=title))
    model = ScriptedModel(
        [
            [function_call("list_tasks", {"status": "all"}, call_id="call_list")],
            [assistant_message("You have 3 tasks.")],
            [assistant_message("The second was #2 Call mom.")],
        ]
    )
    server = make_server(moto_settings, tasks, model)
    with count_dynamodb_calls() as calls:
        thread_id, events = await say(server, ctx, "Show me all my tasks", None)
    assert assistant_text(events) == "You have 3 tasks."
    assert not [e for e in events if e.get("item", {}).get("type") == "hidden_context_item"]
    # The record rode on the answer's write (one batch), not a write of its own: the same five
    # calls as before tool memory (the read, the message, the widget, the answer, the title).
    assert calls["BatchWriteItem"] == 1 and sum(calls.values()) == 5, calls

    stored = (await server.store.load_thread_items(thread_id, None, 20, "asc", ctx)).data
    assert [type(i) for i in stored] == [
        UserMessageItem,
        WidgetItem,
        HiddenContextItem,
        AssistantMessageItem,
    ]
    record = tool_call_record(stored[2])
    assert record is not None and (record.call_id, record.name) == ("call_list", "list_tasks")
    assert [t["title"] for t in json.loads(record.output)["tasks"]] == [
        "Buy milk",
        "Call mom",
        "Water the plants",
    ]
    # The client never sees it.
    listed = await request_json(
        server, {"type": "items.list", "params": {"thread_id": thread_id, "limit": 20}}, ctx
    )
    assert "hidden_context_item" not in {i["type"] for i in listed["data"]}

    await say(server, ctx, "What was the second task you listed?", thread_id)
    [(call_id, name, output)] = calls_in(model.calls[2].input)
    assert (call_id, name, output) == ("call_list", "list_tasks", record.output)
    model.assert_complete()


async def test_what_a_tool_did_before_the_model_failed_is_remembered(moto_settings, tasks, ctx):
    model = ScriptedModel(
        [
            [function_call("add_task", {"title": "Water the plants"}, call_id="call_add")],
            RuntimeError("upstream model is down"),
            [assistant_message("It is there: #1 Water the plants.")],
        ]
    )
    server = make_server(moto_settings, tasks, model)
    thread_id, events = await say(server, ctx, "Add a task to water the plants", None)
    assert [e for e in events if e["type"] == "error"]
    stored = (await server.store.load_thread_items(thread_id, None, 20, "asc", ctx)).data
    records = [r for r in map(tool_call_record, stored) if r is not None]
    assert [(r.call_id, json.loads(r.output)["ok"]) for r in records] == [("call_add", True)]

    _, events = await say(server, ctx, "Did you add it?", thread_id)
    assert not [e for e in events if e["type"] == "error"]
    assert [c[:2] for c in calls_in(model.calls[2].input)] == [("call_add", "add_task")]


async def test_a_client_tool_call_goes_back_once(moto_settings, tasks, ctx):
    model = ScriptedModel(
        [
            [function_call("list_tasks", {"status": "all"}, call_id="call_list")],
            [function_call("show_tasks", {"filter": "pending"}, call_id="call_board")],
            [assistant_message("The board shows your pending tasks.")],
            [assistant_message("Anything else?")],
        ]
    )
    server = make_server(moto_settings, tasks, model)
    thread_id, events = await say(server, ctx, "Show my pending tasks on the board", None)
    assert [
        e["item"]["status"] for e in events if e.get("item", {}).get("type") == "client_tool_call"
    ] == ["pending"]
    events = await stream_events(server, client_tool_output_request(thread_id, {"ok": True}), ctx)
    assert assistant_text(events) == "The board shows your pending tasks."
    await say(server, ctx, "Thanks", thread_id)
    sent = calls_in(model.calls[3].input)
    # The server tool from its record, the client tool from ChatKit's own item: once each.
    assert [(call_id, name) for call_id, name, _ in sent] == [
        ("call_list", "list_tasks"),
        ("call_board", "show_tasks"),
    ]
    assert sent[1][2] == '{"ok": true}'  # what the browser answered
    model.assert_complete()
