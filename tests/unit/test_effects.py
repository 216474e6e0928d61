"""The tool-effects ledger: its row in the store (moto and DynamoDB Local), what it costs within
a request, how it survives a failing write, and how the ledger numbers and replays calls."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from agents import set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from chatkit.store import NotFoundError
from chatkit.types import HiddenContextItem, WidgetItem
from chatkit.widgets import Card, Text

from tests.support.chat import say, stream_events
from tests.support.ddb_calls import count_dynamodb_calls
from tests.support.faulty_table import faulty_table
from tests.support.items import thread, user_item
from tests.support.partitions import partition_keys
from todo_assistant.agent.effects import (
    EffectsLedger,
    EffectsRecord,
    ShownCard,
    already_done_note,
    canonical_arguments,
    change_of,
    in_words,
)
from todo_assistant.agent.history import FAILED_TURN_NOTE, HistoryConverter, failed_turn_marker
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.chat.server import TodoChatKitServer
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.db.table import EffectsRow
from todo_assistant.ids import new_id
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.store.request_scope import scoped
from todo_assistant.tasks.models import Task
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.faults import FaultProxy

set_tracing_disabled(True)


@pytest.fixture
def turn_ctx(ctx: RequestContext) -> RequestContext:
    """The user's context scoped to one turn's request, as the server scopes it."""
    return scoped(ctx, turn=True)


def a_task(number: int = 3, title: str = "Water the plants") -> Task:
    now = datetime.now().astimezone()
    return Task(number=number, title=title, created_at=now, updated_at=now)


def record_of(*changes: str) -> str:
    record = EffectsRecord.model_validate(
        {
            "calls": [
                {
                    "tool": "add_task",
                    "arguments": f'{{"title":"{i}"}}',
                    "occurrence": 0,
                    "result": f"result {i}",
                    "change": change,
                }
                for i, change in enumerate(changes)
            ]
        }
    )
    return record.model_dump_json()


def widget(thread_id: str) -> WidgetItem:
    return WidgetItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(),
        widget=Card(children=[Text(value="Task added")]),
    )


async def new_turn(store: DynamoChatKitStore, user: RequestContext) -> tuple[str, str]:
    """A thread with one user message, written the way a turn writes it; (thread, message)."""
    metadata = thread()
    await store.save_thread(metadata, user)
    message = user_item(metadata.id, "Add a task to water the plants", datetime.now())
    await store.add_thread_item(metadata.id, message, user)
    return metadata.id, message.id


# -- the row ----------------------------------------------------------------------------------


async def test_a_record_round_trips_and_is_replaced(store, ctx, backend_settings):
    thread_id, message_id = await new_turn(store, ctx)
    assert await store.load_effects(thread_id, message_id, ctx) is None
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), ctx)
    assert await store.load_effects(thread_id, message_id, ctx) == record_of("added task #1 “A”")
    both = record_of("added task #1 “A”", "added task #2 “B”")
    await store.save_effects(thread_id, message_id, both, ctx)
    assert await store.load_effects(thread_id, message_id, ctx) == both
    stored = partition_keys(backend_settings, ctx.user_id)
    assert keys.effects_sk(thread_id, message_id) in stored


async def test_another_users_record_is_not_found(store, ctx):
    thread_id, message_id = await new_turn(store, ctx)
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), ctx)
    other = RequestContext(user_id=f"other-{os.urandom(6).hex()}")
    # The same thread and message ids under another user: nothing, as for a made-up id.
    assert await store.load_effects(thread_id, message_id, other) is None
    assert await store.load_effects(thread_id, "msg_made_up", ctx) is None
    assert await store.load_effects(thread_id, "msg#injected", ctx) is None
    with pytest.raises(NotFoundError):
        await store.save_effects("thr#injected", message_id, "{}", ctx)
    # Another user's write lands in their own partition and leaves this one alone.
    await store.save_effects(thread_id, message_id, record_of("deleted task #1 “A”"), other)
    assert await store.load_effects(thread_id, message_id, ctx) == record_of("added task #1 “A”")


async def test_deleting_the_thread_deletes_its_records(store, ctx, backend_settings):
    thread_id, message_id = await new_turn(store, ctx)
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), ctx)
    await store.delete_thread(thread_id, ctx)
    assert await store.load_effects(thread_id, message_id, ctx) is None
    assert not [k for k in partition_keys(backend_settings, ctx.user_id) if thread_id in k]


async def test_a_large_record_is_compressed_and_read_back(store, ctx):
    thread_id, message_id = await new_turn(store, ctx)
    large = record_of(*(f"added task #{n} “{'plants ' * 20}”" for n in range(60)))
    assert len(large) > 10_000
    await store.save_effects(thread_id, message_id, large, ctx)
    row = EffectsRow.get(keys.user_pk(ctx.user_id), keys.effects_sk(thread_id, message_id))
    assert row.encoding == "json+zlib"
    assert await store.load_effects(thread_id, message_id, ctx) == large


# -- within a request ------------------------------------------------------------------------


async def test_a_new_message_has_no_record_and_costs_no_read(store, turn_ctx):
    with count_dynamodb_calls() as calls:
        thread_id, message_id = await new_turn(store, turn_ctx)
        before = sum(calls.values())
        assert await store.load_effects(thread_id, message_id, turn_ctx) is None
        assert sum(calls.values()) == before


async def test_a_record_rides_along_with_the_next_write(store, ctx, turn_ctx):
    thread_id, message_id = await new_turn(store, turn_ctx)
    with count_dynamodb_calls() as calls:
        await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), turn_ctx)
        assert sum(calls.values()) == 0
        # The request reads its own record back without a call.
        assert await store.load_effects(thread_id, message_id, turn_ctx) == record_of(
            "added task #1 “A”"
        )
        assert sum(calls.values()) == 0
        await store.add_thread_item(thread_id, widget(thread_id), turn_ctx)  # the task card
        assert dict(calls) == {"BatchWriteItem": 1}
    assert await store.load_effects(thread_id, message_id, ctx) == record_of("added task #1 “A”")


async def test_the_last_flush_writes_a_staged_record(store, ctx, turn_ctx):
    thread_id, message_id = await new_turn(store, turn_ctx)
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), turn_ctx)
    assert await store.load_effects(thread_id, message_id, ctx) is None  # not yet written
    with count_dynamodb_calls() as calls:
        await store.flush(turn_ctx)
        await store.flush(turn_ctx)  # nothing left: no call
    assert dict(calls) == {"PutItem": 1}
    assert await store.load_effects(thread_id, message_id, ctx) == record_of("added task #1 “A”")


async def test_a_retry_reads_the_record_once(store, ctx):
    thread_id, message_id = await new_turn(store, ctx)
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), ctx)
    retry = scoped(ctx, turn=True)
    with count_dynamodb_calls() as calls:
        for _ in range(3):
            assert await store.load_effects(thread_id, message_id, retry) == record_of(
                "added task #1 “A”"
            )
    assert dict(calls) == {"GetItem": 1}


@pytest.fixture
def faulty(backend_settings: Settings) -> Iterator[tuple[FaultProxy, DynamoChatKitStore]]:
    """The same table behind a proxy that fails the requests a test schedules (one botocore
    retry: a fault scheduled twice in a row fails a call for good)."""
    with faulty_table(backend_settings, retries=1) as (proxy, settings):
        yield proxy, build_store(settings)


async def test_a_failed_write_leaves_what_it_carried_for_the_last_flush(faulty, ctx, turn_ctx):
    proxy, store = faulty
    thread_id, message_id = await new_turn(store, turn_ctx)
    marker = HiddenContextItem(
        id=new_id("msg"), thread_id=thread_id, created_at=datetime.now(), content="note"
    )
    await store.add_thread_item(thread_id, marker, turn_ctx)
    await store.save_effects(thread_id, message_id, record_of("added task #1 “A”"), turn_ctx)
    card = widget(thread_id)
    proxy.fail_next("BatchWriteItem", "internal", times=2)  # the write and its retry
    with pytest.raises(Exception, match="injected fault"):
        await store.add_thread_item(thread_id, card, turn_ctx)
    assert await store.load_effects(thread_id, message_id, ctx) is None  # nothing written

    await store.flush(turn_ctx)  # the request's end: the table answers again
    assert await store.load_effects(thread_id, message_id, ctx) == record_of("added task #1 “A”")
    stored = await store.load_thread_items(thread_id, None, 10, "asc", ctx)
    assert [i.id for i in stored.data][-2:] == sorted([marker.id, card.id])


# -- the ledger -------------------------------------------------------------------------------


def test_canonical_arguments_fold_text_and_order():
    assert canonical_arguments({"title": "Water  the Plants ", "priority": "medium"}) == (
        canonical_arguments({"priority": "medium", "title": "water the plants"})
    )
    assert canonical_arguments({"title": "Water the plants"}) != canonical_arguments(
        {"title": "Water the plants", "priority": "high"}
    )


def test_changes_in_words():
    assert in_words([]) == ""
    assert in_words(["added task #1 “A”"]) == "added task #1 “A”"
    assert in_words(["a", "b", "c"]) == "a, b and c"
    assert change_of("completed", a_task(2, "Buy milk")) == "completed task #2 “Buy milk”"


async def test_the_nth_identical_call_is_its_own_call_and_a_retry_replays_each(store, ctx):
    thread_id, message_id = await new_turn(store, ctx)
    first = await EffectsLedger.open(store, thread_id, message_id, ctx)
    milk = {"title": "Milk"}
    one, two = first.claim("add_task", milk), first.claim("add_task", milk)
    other = first.claim("add_task", {"title": "Bread"})
    assert (one.occurrence, two.occurrence, other.occurrence) == (0, 1, 0)
    assert first.recorded(one) is None
    card = ShownCard(task=a_task(1, "Milk"), heading="Task added")
    await first.record(one, "Added task #1", "added task #1 “Milk”", card)
    await first.record(two, "Added task #2", "added task #2 “Milk”")
    assert first.changes() == ["added task #1 “Milk”", "added task #2 “Milk”"]

    # The next run for the same message (a retry) counts from the first call again.
    again = await EffectsLedger.open(store, thread_id, message_id, ctx)
    replayed = [again.recorded(again.claim("add_task", {"title": " milk"})) for _ in range(3)]
    assert [r.result if r else None for r in replayed] == ["Added task #1", "Added task #2", None]
    assert replayed[0] is not None and replayed[0].card == card
    assert again.changes() == first.changes()

    # Another message of the same thread starts empty.
    _, later = await new_turn(store, ctx)
    fresh = await EffectsLedger.open(store, thread_id, later, ctx)
    assert fresh.recorded(fresh.claim("add_task", milk)) is None and fresh.changes() == []


# -- through the agent (a scripted model, in process) ----------------------------------------


@pytest.fixture
def server_for(
    moto_settings: Settings, tasks: TaskService
) -> Callable[[ScriptedModel], TodoChatKitServer]:
    """A server with the Todo agent around a given model, on moto and the `tasks` service."""

    def make_server(model: ScriptedModel) -> TodoChatKitServer:
        store = build_store(moto_settings)
        return TodoChatKitServer(store, build_todo_agent(model, tasks), tasks=tasks)

    return make_server


def milk(call_id: str) -> Any:
    return function_call("add_task", {"title": "Milk"}, call_id=call_id)


async def test_identical_calls_in_one_response_are_two_and_a_retry_replays_both(
    server_for, tasks, ctx
):
    model = ScriptedModel(
        [
            [milk("c1"), milk("c2")],
            [assistant_message("Added milk twice.", item_id="__fake_id__")],
            [milk("c3"), milk("c4")],  # the retry: the same two calls
            [assistant_message("Added milk twice.", item_id="__fake_id__")],
        ]
    )
    server = server_for(model)
    thread_id, events = await say(server, ctx, "Add milk, twice", None)
    message_id = next(
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "user_message"
    )
    assert [t.number for t in await tasks.list(ctx.user_id)] == [1, 2]

    retry = {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": message_id},
    }
    events = await stream_events(server, retry, ctx)
    assert not [e for e in events if e["type"] in ("error", "client_effect")]
    assert [t.number for t in await tasks.list(ctx.user_id)] == [1, 2]
    outputs = [i for i in model.calls[3].input if i.get("type") == "function_call_output"]
    assert sorted(json.loads(o["output"])["message"] for o in outputs) == [
        "Added task #1: Milk",
        "Added task #2: Milk",
    ]
    ledger = await EffectsLedger.open(server.store, thread_id, message_id, ctx)
    # The two calls run concurrently: either may take number 1.
    assert sorted(ledger.changes()) == ["added task #1 “Milk”", "added task #2 “Milk”"]
    model.assert_complete()


async def test_a_resumed_turn_belongs_to_the_same_message(server_for, tasks, ctx):
    """After a client tool's output the turn goes on for the same user message: a call it
    already made is not made again."""
    model = ScriptedModel(
        [
            [milk("c1")],
            [function_call("open_task_editor", {"number": 1}, call_id="c2")],
            [milk("c3")],  # resumed: the same call once more
            [assistant_message("Milk is open in the editor.", item_id="__fake_id__")],
        ]
    )
    server = server_for(model)
    thread_id, events = await say(server, ctx, "Add milk and open it", None)
    assert [
        e["item"]["name"] for e in events if e.get("item", {}).get("type") == "client_tool_call"
    ]
    output = {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": thread_id, "result": {"ok": True}},
    }
    events = await stream_events(server, output, ctx)
    assert not [e for e in events if e["type"] in ("error", "client_effect")]
    assert [t.title for t in await tasks.list(ctx.user_id)] == ["Milk"]
    model.assert_complete()


# -- what the model is told ----------------------------------------------------------------


async def test_the_model_is_told_which_changes_of_a_failed_turn_stand():
    changed = failed_turn_marker("msg_1", "thr_1", "server_error", None, ["added task #1 “A”"])
    unchanged = failed_turn_marker("msg_2", "thr_1", "server_error")
    told = await HistoryConverter().to_agent_input([changed, unchanged])
    texts = [item["content"][0]["text"] for item in told]
    assert "Before it failed, you added task #1 “A”; these changes stand" in texts[0]
    assert FAILED_TURN_NOTE not in texts[0]
    assert FAILED_TURN_NOTE in texts[1]
    retry_note = already_done_note(["added task #1 “A”", "completed task #2 “B”"])
    assert "you already added task #1 “A” and completed task #2 “B”" in str(retry_note)
