"""Stop requests in the table, and how a turn listens for them (chat/stop.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import pytest
from chatkit.store import NotFoundError
from chatkit.types import ThreadMetadata

from tests.support.ddb_calls import count_dynamodb_calls
from todo_assistant.chat import stop as stop_module
from todo_assistant.chat.stop import StopSignal, TurnStopped
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext, TurnStop
from todo_assistant.db import keys
from todo_assistant.db.table import StopRow, TableRow
from todo_assistant.store.stop_requests import STOP_REQUEST_TTL_SECONDS, StopRequests
from todo_assistant.wiring.chatkit import build_store


async def new_thread(settings: Settings, user: str) -> str:
    thread_id = f"thr_{uuid.uuid4().hex}"
    thread = ThreadMetadata(id=thread_id, created_at=datetime.now())
    await build_store(settings).save_thread(thread, RequestContext(user))
    return thread_id


def rows_of(user: str) -> list[str]:
    return [str(row.sk) for row in TableRow.query(keys.user_pk(user))]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the row ----------------------------------------------------------------------------------
async def test_a_request_is_one_row_in_the_callers_partition_that_expires(
    backend_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(backend_settings, user_id)
    requests = StopRequests(clock=lambda: 1_800_000_000.5)
    assert await requests.requested_at(user_id, thread_id) is None

    assert await requests.request(user_id, thread_id) == 1_800_000_000.5
    assert await requests.requested_at(user_id, thread_id) == 1_800_000_000.5
    row = StopRow.get(keys.user_pk(user_id), keys.cancel_sk(thread_id))
    assert row.expires_at is not None
    assert row.expires_at.timestamp() == int(1_800_000_000.5 + STOP_REQUEST_TTL_SECONDS)

    # Pressing Stop again overwrites it: still one row.
    later = StopRequests(clock=lambda: 1_800_000_060.0)
    await later.request(user_id, thread_id)
    assert await requests.requested_at(user_id, thread_id) == 1_800_000_060.0
    assert rows_of(user_id).count(keys.cancel_sk(thread_id)) == 1


async def test_a_request_for_a_thread_the_user_lacks_is_not_found_and_writes_nothing(
    backend_settings: Settings, user_id: str
) -> None:
    theirs = await new_thread(backend_settings, f"{user_id}-other")
    requests = StopRequests()
    before = rows_of(user_id)
    for thread_id in (theirs, "thr_made_up", "thr#META", ""):
        with pytest.raises(NotFoundError):
            await requests.request(user_id, thread_id)
    assert rows_of(user_id) == before == []
    assert keys.cancel_sk(theirs) not in rows_of(f"{user_id}-other")


async def test_deleting_the_thread_deletes_its_stop_request(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    await StopRequests().request(user_id, thread_id)
    await build_store(moto_settings).delete_thread(thread_id, RequestContext(user_id))
    assert rows_of(user_id) == []


# -- listening --------------------------------------------------------------------------------
def signal_for(
    user: str, thread_id: str, clock: Clock, requests: StopRequests | None = None
) -> StopSignal:
    signal = StopSignal(
        requests or StopRequests(), user, interval=0.5, started_at=time.time(), clock=clock
    )
    signal.thread_id = thread_id
    return signal


async def test_nothing_is_read_in_the_first_interval_then_at_most_once_per_interval(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    clock = Clock()
    signal = signal_for(user_id, thread_id, clock)
    with count_dynamodb_calls() as calls:
        clock.now += 0.49  # a fast turn: the stream and its tools read nothing
        assert not await signal.check()
        assert not await signal.check(before_tool=True)
        assert calls["GetItem"] == 0

        clock.now += 0.02
        assert not await signal.check()
        assert not await signal.check()  # read just now: not again
        assert calls["GetItem"] == 1
        assert not await signal.check(before_tool=True)  # a tool start always reads
        assert calls["GetItem"] == 2

        clock.now += 0.5
        assert not await signal.check()
        assert calls["GetItem"] == 3
    assert signal.reads == 3 and not signal.stopped


async def test_only_a_request_made_after_the_turn_began_stops_it(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    await StopRequests(clock=lambda: time.time() - 5).request(user_id, thread_id)
    clock = Clock()
    signal = signal_for(user_id, thread_id, clock)
    stops: list[bool] = []
    signal.on_stop = lambda: stops.append(True)

    clock.now += 1
    assert not await signal.check()  # an earlier turn's Stop
    await StopRequests().request(user_id, thread_id)
    clock.now += 1
    assert await signal.check()
    assert signal.stopped and stops == [True]
    clock.now += 1
    assert await signal.check() and stops == [True]  # told once, never read again
    assert signal.reads == 2


class UnreadableRequests(StopRequests):
    async def requested_at(self, user_id: str, thread_id: str) -> float | None:
        raise ConnectionError("throttled")


async def test_a_failed_read_lets_the_turn_go_on(moto_settings: Settings, user_id: str) -> None:
    clock = Clock()
    signal = signal_for(user_id, "thr_x", clock, UnreadableRequests())
    clock.now += 1
    assert not await signal.check() and not signal.stopped
    assert signal.reads == 1


async def test_the_watcher_tells_the_turn_once_the_request_is_seen(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    signal = StopSignal(StopRequests(), user_id, interval=0.05)
    signal.thread_id = thread_id
    stopped = asyncio.Event()
    watcher = asyncio.create_task(signal.watch(stopped.set))
    await StopRequests().request(user_id, thread_id)
    await asyncio.wait_for(stopped.wait(), 10)
    await asyncio.wait_for(watcher, 10)  # the watcher ends once it has told the turn
    assert signal.stopped and signal.reads >= 1


async def test_a_turn_listens_to_the_thread_it_names(user_id: str) -> None:
    signal = StopSignal(StopRequests(), user_id, 0.5)
    assert isinstance(signal, TurnStop)  # what the request context carries
    assert signal.thread_id is None  # a new thread's id is made by the turn itself
    signal.listen_to("thr_1")
    assert signal.thread_id == "thr_1"


# -- before a tool ----------------------------------------------------------------------------
async def test_a_tool_start_after_a_stop_never_returns(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)

    async def tool_start() -> None:
        signal = StopSignal(StopRequests(), user_id, 0.0)
        signal.listen_to(thread_id)
        signal.on_stop = told.set
        await StopRequests().request(user_id, thread_id)
        await signal.before_tool()
        started.append(True)

    told = asyncio.Event()
    started: list[bool] = []
    task = asyncio.create_task(tool_start())
    await asyncio.wait_for(told.wait(), 10)
    # The turn was told; the tool start waits for the run's cancellation, which ends it.
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert started == []


async def test_a_tool_start_after_a_stop_fails_if_the_run_is_not_cancelled(
    moto_settings: Settings, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    monkeypatch.setattr(stop_module, "_RUN_CANCEL_GRACE_SECONDS", 0.0)
    signal = StopSignal(StopRequests(), user_id, 0.0)
    signal.listen_to(thread_id)
    await StopRequests().request(user_id, thread_id)
    with pytest.raises(TurnStopped):
        await signal.before_tool()


async def test_a_tool_start_with_no_request_goes_ahead(
    moto_settings: Settings, user_id: str
) -> None:
    thread_id = await new_thread(moto_settings, user_id)
    signal = StopSignal(StopRequests(), user_id, 0.0)
    signal.listen_to(thread_id)
    await signal.before_tool()
    assert signal.reads == 1 and not signal.stopped
