"""Per-user rate limits on moto and DynamoDB Local: one TransactWriteItems per request, a
refusal writes nothing, users never share a window, and the updates compose with other writes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

import pytest
from chatkit.types import (
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from tests.support.ddb_calls import count_dynamodb_calls
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.db.table import CounterRow, TableRow, TaskRow
from todo_assistant.ids import new_id
from todo_assistant.limits import PlannedWindow, RateLimited, RateLimiter
from todo_assistant.store.request_scope import scoped
from todo_assistant.wiring.chatkit import build_store

# A fixed instant 30 s into a minute and far from a day boundary.
NOW = 1_800_000_030.0


def limiter(per_minute: int, per_day: int, now: float = NOW) -> RateLimiter:
    return RateLimiter("turns", per_minute=per_minute, per_day=per_day, clock=lambda: now)


def cancelled(
    build: Callable[[TransactWrite], list[PlannedWindow]],
) -> tuple[TransactWriteError, list[PlannedWindow]]:
    """Run a transaction that must be cancelled; its error and planned windows."""
    planned: list[PlannedWindow] = []
    try:
        with TransactWrite(connection=TableRow._get_connection().connection) as transaction:
            planned = build(transaction)
    except TransactWriteError as error:
        return error, planned
    raise AssertionError("the transaction went through")


def counts(user_id: str) -> dict[str, int]:
    rows = TableRow.query(keys.user_pk(user_id), TableRow.sk.startswith(keys.LIMITS_PREFIX))
    return {str(r.sk): int(r.value) for r in rows if isinstance(r, CounterRow)}


def test_both_windows_in_one_transaction_until_the_minute_is_full(
    backend_settings: Settings, user_id: str
) -> None:
    limit = limiter(per_minute=3, per_day=10)
    with count_dynamodb_calls() as calls:
        for _ in range(3):
            limit.check_sync(user_id)
    assert calls == {"TransactWriteItems": 3}
    minute, day = (w.sort_key for w in limit.plan())
    assert counts(user_id) == {minute: 3, day: 3}
    row = CounterRow.get(keys.user_pk(user_id), minute)
    # The row vanishes by TTL a minute after its window ends.
    assert row.expires_at is not None and row.expires_at.timestamp() == 1_800_000_000 + 60 + 60

    with pytest.raises(RateLimited) as refused:
        limit.check_sync(user_id)
    assert (refused.value.scope, refused.value.window) == ("turns", "minute")
    assert refused.value.retry_after == 30  # seconds left in the minute
    # Refused: neither window counted it.
    assert counts(user_id) == {minute: 3, day: 3}

    # Another user is not affected; the next minute starts from zero.
    limit.check_sync(f"other-{uuid.uuid4().hex[:8]}")
    limiter(per_minute=3, per_day=10, now=NOW + 60).check_sync(user_id)
    assert counts(user_id)[day] == 4


def test_the_day_window_refuses_with_the_time_to_midnight(
    backend_settings: Settings, user_id: str
) -> None:
    for minute in range(2):
        limiter(per_minute=5, per_day=2, now=NOW + 60 * minute).check_sync(user_id)
    with pytest.raises(RateLimited) as refused:
        limiter(per_minute=5, per_day=2, now=NOW + 120).check_sync(user_id)
    assert refused.value.window == "day"
    day_end = (int(NOW) // 86_400 + 1) * 86_400
    assert refused.value.retry_after == day_end - int(NOW + 120)


def test_zero_turns_a_limit_off(backend_settings: Settings, user_id: str) -> None:
    only_day = limiter(per_minute=0, per_day=1)
    assert [w.window.name for w in only_day.plan()] == ["day"]
    off = limiter(per_minute=0, per_day=0)
    with count_dynamodb_calls() as calls:
        for _ in range(5):
            off.check_sync(user_id)
    assert not off.enabled and calls == {}
    assert counts(user_id) == {}


def test_window_updates_ride_along_another_write(backend_settings: Settings, user_id: str) -> None:
    """A turn's first write can absorb the check: both succeed or neither is written."""
    limit = limiter(per_minute=1, per_day=10)
    connection = TableRow._get_connection().connection
    pk = keys.user_pk(user_id)

    def task(number: int) -> TaskRow:
        return TaskRow(
            pk,
            keys.task_sk(number),
            number=number,
            title=f"t{number}",
            created_at="2026-01-01T00:00:00+00:00",
            updated_at="2026-01-01T00:00:00+00:00",
        )

    with TransactWrite(connection=connection) as transaction:
        transaction.save(task(1))
        limit.add_to(transaction, user_id)
    assert TaskRow.get(pk, keys.task_sk(1)).title == "t1"

    def save_second(transaction: TransactWrite) -> list[PlannedWindow]:
        transaction.save(task(2))
        return limit.add_to(transaction, user_id)

    refused = limit.refusal(*cancelled(save_second))
    assert refused is not None and refused.window == "minute"
    with pytest.raises(DoesNotExist):
        TaskRow.get(pk, keys.task_sk(2))


def test_other_cancellations_are_not_called_rate_limits(
    backend_settings: Settings, user_id: str
) -> None:
    limit = limiter(per_minute=5, per_day=10)

    def update_missing_task(transaction: TransactWrite) -> list[PlannedWindow]:
        # A write whose own condition fails (no such task), beside free windows.
        transaction.update(
            TaskRow(keys.user_pk(user_id), keys.task_sk(99)),
            actions=[TaskRow.title.set("x")],
            condition=TaskRow.sk.exists(),
        )
        return limit.add_to(transaction, user_id)

    assert limit.refusal(*cancelled(update_missing_task)) is None


def message(thread_id: str, text: str) -> UserMessageItem:
    return UserMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


async def test_a_turn_is_counted_by_the_write_of_its_message(
    backend_settings: Settings, user_id: str
) -> None:
    """The turn limit rides on the transaction that writes the user's message: no call of its
    own, and a refused turn leaves the thread exactly as it was."""
    store = build_store(backend_settings)
    limit = limiter(per_minute=2, per_day=10, now=time.time())
    user = RequestContext(user_id=user_id)

    first = scoped(user, turn=True, turn_limiter=limit)
    thread = ThreadMetadata(id=store.generate_thread_id(first), created_at=datetime.now())
    await store.save_thread(thread, first)
    with count_dynamodb_calls() as calls:
        await store.add_thread_item(thread.id, message(thread.id, "one"), first)
    assert calls == {"TransactWriteItems": 1}  # thread + message + both windows
    minute, day = (w.sort_key for w in limit.plan())
    assert counts(user_id) == {minute: 1, day: 1}

    await store.add_thread_item(
        thread.id, message(thread.id, "two"), scoped(user, turn=True, turn_limiter=limit)
    )
    stored_before = await store.load_thread(thread.id, user)

    third = scoped(user, turn=True, turn_limiter=limit)
    with pytest.raises(RateLimited) as refused:
        await store.add_thread_item(thread.id, message(thread.id, "three"), third)
    assert refused.value.window == "minute"
    items = await store.load_thread_items(thread.id, None, 10, "asc", user)
    assert [i.content[0].text for i in items.data if isinstance(i, UserMessageItem)] == [
        "one",
        "two",
    ]
    assert (await store.load_thread(thread.id, user)).model_dump() == stored_before.model_dump()
    assert counts(user_id) == {minute: 2, day: 2}
    # Another user's turns are their own.
    other = scoped(RequestContext(user_id=f"{user_id}-other"), turn=True, turn_limiter=limit)
    other_thread = ThreadMetadata(id=store.generate_thread_id(other), created_at=datetime.now())
    await store.save_thread(other_thread, other)
    await store.add_thread_item(other_thread.id, message(other_thread.id, "hi"), other)
    assert counts(f"{user_id}-other") == {minute: 1, day: 1}
