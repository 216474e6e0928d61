"""Every Store method, on moto and on DynamoDB Local (same tests, `backend_settings`)."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta

import boto3
import pytest
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    ImageAttachment,
    WidgetItem,
)
from chatkit.widgets import Card, Text
from pydantic import AnyUrl

from tests.support.items import assistant_item, thread, user_item
from tests.support.partitions import partition_keys
from tests.support.settings import BUCKET
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db.keys import item_sk, items_prefix, user_pk
from todo_assistant.db.table import TableRow
from todo_assistant.ids import new_id
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.store.request_scope import scoped


@pytest.fixture
def other() -> RequestContext:
    return RequestContext(user_id=f"other-{os.urandom(6).hex()}")


async def seed_items(store, ctx, thread_id: str, count: int) -> list:
    base = datetime.now()
    items = [user_item(thread_id, f"m{i}", base + timedelta(seconds=i)) for i in range(count)]
    for item in items:
        await store.add_thread_item(thread_id, item, ctx)
    return items


# -- threads ---------------------------------------------------------------------------------


async def test_thread_round_trip_keeps_every_field(store, ctx):
    original = thread(title=None)
    await store.save_thread(original, ctx)
    assert await store.load_thread(original.id, ctx) == original

    original.title = "Renamed"
    await store.save_thread(original, ctx)
    assert (await store.load_thread(original.id, ctx)).title == "Renamed"


async def test_missing_and_foreign_threads_are_not_found_alike(store, ctx, other):
    mine = thread()
    await store.save_thread(mine, ctx)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_does_not_exist", ctx)
    with pytest.raises(NotFoundError):
        await store.load_thread(mine.id, other)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr#injected", ctx)


async def test_threads_list_newest_updated_first_and_pages(store, ctx):
    threads = [thread(title=f"t{i}") for i in range(5)]
    for t in threads:
        await store.save_thread(t, ctx)
    # Touch the oldest: it becomes the most recently updated.
    await store.save_thread(threads[0], ctx)
    expected_desc = [threads[0].id, threads[4].id, threads[3].id, threads[2].id, threads[1].id]

    first = await store.load_threads(2, None, "desc", ctx)
    assert [t.id for t in first.data] == expected_desc[:2]
    assert first.has_more is True and first.after == expected_desc[1]
    second = await store.load_threads(2, first.after, "desc", ctx)
    assert [t.id for t in second.data] == expected_desc[2:4]
    assert second.has_more is True
    last = await store.load_threads(2, second.after, "desc", ctx)
    assert [t.id for t in last.data] == expected_desc[4:]
    assert last.has_more is False and last.after is None

    ascending = await store.load_threads(10, None, "asc", ctx)
    assert [t.id for t in ascending.data] == list(reversed(expected_desc))
    assert ascending.has_more is False and ascending.after is None


async def test_a_new_user_message_moves_its_thread_to_the_top(store, ctx):
    older, newer = thread(), thread()
    for t in (older, newer):
        await store.save_thread(t, ctx)
    assert [t.id for t in (await store.load_threads(10, None, "desc", ctx)).data] == [
        newer.id,
        older.id,
    ]
    await store.add_thread_item(older.id, user_item(older.id, "again", datetime.now()), ctx)
    assert [t.id for t in (await store.load_threads(10, None, "desc", ctx)).data] == [
        older.id,
        newer.id,
    ]
    # Assistant items do not reorder threads, and a message for a missing thread creates none.
    await store.add_thread_item(newer.id, assistant_item(newer.id, "hi", datetime.now()), ctx)
    with pytest.raises(NotFoundError):
        await store.add_thread_item(
            "thr_missing", user_item("thr_missing", "x", datetime.now()), ctx
        )
    assert (await store.load_thread_items("thr_missing", None, 10, "asc", ctx)).data == []
    assert [t.id for t in (await store.load_threads(10, None, "desc", ctx)).data] == [
        older.id,
        newer.id,
    ]


async def test_threads_list_exact_multiple_of_limit_and_after_last(store, ctx):
    threads = [thread() for _ in range(4)]
    for t in threads:
        await store.save_thread(t, ctx)
    page1 = await store.load_threads(2, None, "asc", ctx)
    page2 = await store.load_threads(2, page1.after, "asc", ctx)
    assert [t.id for t in page1.data + page2.data] == [t.id for t in threads]
    assert page2.has_more is False and page2.after is None
    beyond = await store.load_threads(2, threads[-1].id, "asc", ctx)
    assert beyond.data == [] and beyond.has_more is False


async def test_threads_list_empty_and_isolated(store, ctx, other):
    await store.save_thread(thread(), ctx)
    empty = await store.load_threads(20, None, "desc", other)
    assert empty.data == [] and empty.has_more is False and empty.after is None
    with pytest.raises(NotFoundError):
        await store.load_threads(20, "thr_missing_cursor", "desc", ctx)


# -- items -----------------------------------------------------------------------------------


async def test_items_round_trip_in_creation_order(store, ctx):
    t = thread()
    await store.save_thread(t, ctx)
    now = datetime.now()
    items = [
        user_item(t.id, "Hello", now, item_id="msg_zzz"),  # ids deliberately not in time order
        assistant_item(t.id, "Hi!", now + timedelta(seconds=1), item_id="msg_aaa"),
        WidgetItem(
            id="wdg_mmm",
            thread_id=t.id,
            created_at=now + timedelta(seconds=2),
            widget=Card(children=[Text(value="Task list")]),
        ),
    ]
    for item in items:
        await store.add_thread_item(t.id, item, ctx)
    asc = await store.load_thread_items(t.id, None, 10, "asc", ctx)
    assert asc.data == items and asc.has_more is False and asc.after is None
    desc = await store.load_thread_items(t.id, None, 10, "desc", ctx)
    assert desc.data == list(reversed(items))


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_items_pagination_edges(store, ctx, order):
    t = thread()
    await store.save_thread(t, ctx)
    empty = await store.load_thread_items(t.id, None, 2, order, ctx)
    assert empty.data == [] and empty.has_more is False and empty.after is None

    items = await seed_items(store, ctx, t.id, 4)
    expected = [i.id for i in (items if order == "asc" else list(reversed(items)))]
    page1 = await store.load_thread_items(t.id, None, 2, order, ctx)
    assert [i.id for i in page1.data] == expected[:2]
    assert page1.has_more is True and page1.after == expected[1]
    # Exactly a multiple of the limit: the second page is full and the last one.
    page2 = await store.load_thread_items(t.id, page1.after, 2, order, ctx)
    assert [i.id for i in page2.data] == expected[2:]
    assert page2.has_more is False and page2.after is None
    after_last = await store.load_thread_items(t.id, expected[-1], 2, order, ctx)
    assert after_last.data == [] and after_last.has_more is False


async def test_item_pages_never_leak_into_the_neighbouring_thread(store, ctx):
    first, second = thread(), thread()
    for t in (first, second):
        await store.save_thread(t, ctx)
    a = await seed_items(store, ctx, first.id, 3)
    b = await seed_items(store, ctx, second.id, 3)
    for t, items in ((first, a), (second, b)):
        for order in ("asc", "desc"):
            cursor = items[1].id
            page = await store.load_thread_items(t.id, cursor, 10, order, ctx)
            expected = [items[2].id] if order == "asc" else [items[0].id]
            assert [i.id for i in page.data] == expected
            assert page.has_more is False


async def test_items_of_another_user_are_invisible(store, ctx, other):
    t = thread()
    await store.save_thread(t, ctx)
    items = await seed_items(store, ctx, t.id, 2)
    page = await store.load_thread_items(t.id, None, 10, "asc", other)
    assert page.data == []
    with pytest.raises(NotFoundError):
        await store.load_item(t.id, items[0].id, other)
    with pytest.raises(NotFoundError):
        await store.load_thread_items(t.id, items[0].id, 10, "asc", other)
    # Writes by the other user land in the other user's partition only.
    await store.delete_thread_item(t.id, items[0].id, other)
    await store.delete_thread(t.id, other)
    assert len((await store.load_thread_items(t.id, None, 10, "asc", ctx)).data) == 2


async def test_add_is_an_idempotent_upsert_and_save_item_updates(store, ctx):
    t = thread()
    await store.save_thread(t, ctx)
    item = assistant_item(t.id, "Draft", datetime.now())
    await store.add_thread_item(t.id, item, ctx)
    await store.add_thread_item(t.id, item, ctx)
    assert len((await store.load_thread_items(t.id, None, 10, "asc", ctx)).data) == 1

    item.content = [AssistantMessageContent(text="Final answer")]
    await store.save_item(t.id, item, ctx)
    loaded = await store.load_item(t.id, item.id, ctx)
    assert isinstance(loaded, AssistantMessageItem)
    assert loaded.content[0].text == "Final answer"


async def test_load_and_delete_single_items(store, ctx):
    t = thread()
    await store.save_thread(t, ctx)
    items = await seed_items(store, ctx, t.id, 3)
    with pytest.raises(NotFoundError):
        await store.load_item(t.id, "msg_missing", ctx)
    await store.delete_thread_item(t.id, items[1].id, ctx)
    await store.delete_thread_item(t.id, "msg_missing", ctx)  # a no-op, not an error
    remaining = await store.load_thread_items(t.id, None, 10, "asc", ctx)
    assert [i.id for i in remaining.data] == [items[0].id, items[2].id]


async def test_delete_thread_removes_items_in_batches_and_nothing_else(
    store, ctx, other, backend_settings
):
    doomed, kept = thread(), thread()
    for t in (doomed, kept):
        await store.save_thread(t, ctx)
    # The other user has a thread with the very same id.
    await store.save_thread(doomed, other)
    await seed_items(store, ctx, doomed.id, 30)  # more than one 25-key batch
    kept_items = await seed_items(store, ctx, kept.id, 2)
    other_items = await seed_items(store, other, doomed.id, 2)
    await store.save_feedback(doomed.id, [], "positive", ctx)

    await store.delete_thread(doomed.id, ctx)

    with pytest.raises(NotFoundError):
        await store.load_thread(doomed.id, ctx)
    keys = partition_keys(backend_settings, ctx.user_id)
    assert not [k for k in keys if doomed.id in k]
    assert len([k for k in keys if k.startswith(items_prefix(kept.id))]) == len(kept_items)
    assert (await store.load_thread(doomed.id, other)).id == doomed.id
    theirs = await store.load_thread_items(doomed.id, None, 10, "asc", other)
    assert [i.id for i in theirs.data] == [i.id for i in other_items]


# -- large items -----------------------------------------------------------------------------


def s3_keys(settings: Settings) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=settings.s3_endpoint, region_name="us-east-1")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


async def test_item_over_400kb_compressible_is_stored_inline(store, ctx):
    t = thread()
    await store.save_thread(t, ctx)
    long_answer = "All your tasks, in great detail. " * 30_000  # ~1 MB of text
    item = assistant_item(t.id, long_answer, datetime.now())
    await store.add_thread_item(t.id, item, ctx)
    row = TableRow.get(user_pk(ctx.user_id), item_sk(t.id, item.created_at, item.id))
    assert row.encoding == "json+zlib"
    assert await store.load_item(t.id, item.id, ctx) == item


async def test_incompressible_item_over_400kb_goes_to_s3_and_is_deleted_with_thread(
    store, ctx, backend_settings
):
    t = thread()
    await store.save_thread(t, ctx)
    noise = os.urandom(450_000).hex()  # 900 KB that zlib cannot shrink below the limit
    item = assistant_item(t.id, noise, datetime.now())
    await store.add_thread_item(t.id, item, ctx)
    row = TableRow.get(user_pk(ctx.user_id), item_sk(t.id, item.created_at, item.id))
    assert row.encoding == "s3" and row.body is None
    assert row.s3_key in s3_keys(backend_settings)
    assert await store.load_item(t.id, item.id, ctx) == item
    page = await store.load_thread_items(t.id, None, 5, "desc", ctx)
    assert page.data == [item]

    await store.delete_thread(t.id, ctx)
    assert row.s3_key not in s3_keys(backend_settings)


# -- attachments and feedback ----------------------------------------------------------------


async def test_attachments_round_trip_and_isolation(store, ctx, other):
    file = FileAttachment(id=new_id("atc"), name="notes.txt", mime_type="text/plain")
    image = ImageAttachment(
        id=new_id("atc"),
        name="photo.png",
        mime_type="image/png",
        preview_url=AnyUrl("https://example.com/photo.png"),
    )
    for attachment in (file, image):
        await store.save_attachment(attachment, ctx)
        assert await store.load_attachment(attachment.id, ctx) == attachment
        with pytest.raises(NotFoundError):
            await store.load_attachment(attachment.id, other)
    await store.delete_attachment(file.id, other)  # another user's delete changes nothing
    assert await store.load_attachment(file.id, ctx) == file
    await store.delete_attachment(file.id, ctx)
    with pytest.raises(NotFoundError):
        await store.load_attachment(file.id, ctx)


async def test_feedback_only_on_own_existing_items(store, ctx, other):
    t = thread()
    await store.save_thread(t, ctx)
    items = await seed_items(store, ctx, t.id, 2)
    applied = await store.save_feedback(t.id, [items[0].id, "msg_missing"], "positive", ctx)
    assert applied == 1
    assert await store.load_feedback(t.id, ctx) == {items[0].id: "positive"}
    with pytest.raises(NotFoundError):
        await store.save_feedback(t.id, [items[1].id], "negative", other)
    assert await store.load_feedback(t.id, other) == {}


def test_generated_ids_sort_in_creation_order(store, ctx):
    t = thread()
    ids = [store.generate_item_id("message", t, ctx) for _ in range(200)]
    assert ids == sorted(ids)
    assert all(i.startswith("msg_") for i in ids)
    assert store.generate_thread_id(ctx).startswith("thr_")


async def test_feedback_naming_an_item_twice_is_one_piece_of_feedback(store, ctx):
    t = thread()
    await store.save_thread(t, ctx)
    (item,) = await seed_items(store, ctx, t.id, 1)
    # BatchWriteItem refuses two writes of one key: the store must not send them.
    assert await store.save_feedback(t.id, [item.id, item.id], "negative", ctx) == 1
    assert await store.load_feedback(t.id, ctx) == {item.id: "negative"}


@pytest.mark.parametrize("limit", [0, -1])
async def test_a_page_of_no_rows_is_empty_and_has_no_more(store, ctx, limit):
    t = thread()
    await store.save_thread(t, ctx)
    await seed_items(store, ctx, t.id, 3)
    items = await store.load_thread_items(t.id, None, limit, "asc", ctx)
    threads = await store.load_threads(limit, None, "desc", ctx)
    for page in (items, threads):
        assert page.data == [] and page.has_more is False and page.after is None


# -- a new message's opening: the thread's read runs while the message is written ------------


class HeldRead:
    """Holds the store's thread-and-history read until released (or fails it), to see what
    the request does while that read is still under way."""

    def __init__(self, store: DynamoChatKitStore, monkeypatch, fail: bool = False) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        real = store._load_thread_with_history

        def held(*args, **kwargs):
            self.started.set()
            assert self.release.wait(10), "the held read was never released"
            if fail:
                raise RuntimeError("read failed")
            return real(*args, **kwargs)

        monkeypatch.setattr(store, "_load_thread_with_history", held)


async def test_the_message_is_durable_and_acknowledged_before_the_threads_read_returns(
    store, ctx, monkeypatch
):
    stored = thread(title="Errands")
    await store.save_thread(stored, ctx)
    earlier = await seed_items(store, ctx, stored.id, 3)
    read = HeldRead(store, monkeypatch)
    request = scoped(ctx, turn=True, overlap_opening=True)

    handed_out = await store.load_thread(stored.id, request)
    message = user_item(stored.id, "and one more", datetime.now() + timedelta(minutes=1))
    await store.add_thread_item(stored.id, message, request)

    # Written (a fresh read sees it) while the thread's read is still held.
    assert read.started.is_set() and not read.release.is_set()
    fresh = await store.load_thread_items(stored.id, None, 10, "asc", ctx)
    assert [i.id for i in fresh.data] == [*(i.id for i in earlier), message.id]
    assert handed_out.title is None  # not filled in yet

    read.release.set()
    await store.settle(request)
    assert handed_out.title == "Errands"
    assert handed_out.created_at == stored.created_at
    # The request's view holds the message exactly once, whether or not the read saw it.
    history = await store.load_thread_items(stored.id, None, 10, "asc", request)
    assert [i.id for i in history.data] == [*(i.id for i in earlier), message.id]


async def test_a_read_failing_after_the_message_was_written_fails_the_turn_not_the_message(
    store, ctx, monkeypatch
):
    stored = thread()
    await store.save_thread(stored, ctx)
    read = HeldRead(store, monkeypatch, fail=True)
    request = scoped(ctx, turn=True, overlap_opening=True)

    await store.load_thread(stored.id, request)
    message = user_item(stored.id, "keep me", datetime.now())
    await store.add_thread_item(stored.id, message, request)
    read.release.set()
    with pytest.raises(RuntimeError, match="read failed"):
        await store.settle(request)
    kept = await store.load_thread_items(stored.id, None, 10, "asc", ctx)
    assert [i.id for i in kept.data] == [message.id]


async def test_a_message_for_a_missing_thread_is_refused_while_its_read_is_held(
    store, ctx, monkeypatch, backend_settings
):
    read = HeldRead(store, monkeypatch)
    request = scoped(ctx, turn=True, overlap_opening=True)
    await store.load_thread("thr_missing", request)
    with pytest.raises(NotFoundError):
        await store.add_thread_item(
            "thr_missing", user_item("thr_missing", "x", datetime.now()), request
        )
    read.release.set()
    await store.flush(request)  # ends the request: the held read is dropped, not awaited
    assert (await store.load_thread_items("thr_missing", None, 10, "asc", ctx)).data == []
    assert partition_keys(backend_settings, ctx.user_id) == []
