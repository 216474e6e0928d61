"""openai-chatkit `Store` on DynamoDB: threads, items, attachment metadata and feedback.

Every method takes the user id from `context` (a verified token) and builds keys from it, so
another user's id is indistinguishable from a missing one. pynamodb is synchronous; each
method runs in a worker thread so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter
from pynamodb.exceptions import DoesNotExist, UpdateError

from todo_assistant.context import RequestContext
from todo_assistant.ids import is_safe_id, new_id
from todo_assistant.store import keys
from todo_assistant.store.keys import sortable_time, user_pk
from todo_assistant.store.payloads import EncodedPayload, PayloadCodec
from todo_assistant.store.table import (
    AttachmentRow,
    FeedbackRow,
    ItemRow,
    StoredBody,
    TableRow,
    ThreadRow,
)

_ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
_ATTACHMENT_ADAPTER: TypeAdapter[Attachment] = TypeAdapter(Attachment)

ID_PREFIXES: dict[StoreItemType, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "task": "tsk",
    "workflow": "wf",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}

Order = Literal["asc", "desc"]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# Rows that carry an encoded payload (threads name its attributes differently: see table.py).
type _EncodedRow = StoredBody | ThreadRow


def _require_safe(*ids: str) -> None:
    for value in ids:
        if not is_safe_id(value):
            # A malformed id can never name a stored row: answer exactly like a missing one.
            raise NotFoundError(f"{value!r} not found")


class TodoStore(Store[RequestContext]):
    """openai-chatkit's Store plus the item feedback this app keeps, with time-sortable ids."""

    def generate_thread_id(self, context: RequestContext) -> str:
        return new_id("thr")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return new_id(ID_PREFIXES.get(item_type, "itm"))

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return new_id("atc")

    @abstractmethod
    async def save_feedback(
        self,
        thread_id: str,
        item_ids: Iterable[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> int:
        """Record feedback on the user's own items; returns how many items it applied to."""

    @abstractmethod
    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        """Feedback of a thread's items, by item id."""


class DynamoChatKitStore(TodoStore):
    def __init__(self, codec: PayloadCodec) -> None:
        self._codec = codec

    # -- threads --------------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        return await asyncio.to_thread(self._load_thread, thread_id, context.user_id)

    def _load_thread(self, thread_id: str, user_id: str) -> ThreadMetadata:
        row = self._get(ThreadRow, user_id, keys.thread_sk(thread_id), thread_id)
        return ThreadMetadata.model_validate_json(self._decode(row))

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        await asyncio.to_thread(self._save_thread, thread, context.user_id)

    def _save_thread(self, thread: ThreadMetadata, user_id: str) -> None:
        self.thread_row(thread, user_id).save()

    def thread_row(self, thread: ThreadMetadata, user_id: str) -> ThreadRow:
        """The row a thread's metadata is stored as, ordered as updated now; not yet saved."""
        _require_safe(thread.id)
        # The SDK sometimes passes a full `Thread`; only its metadata is ever stored.
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        now = utc_now()
        payload = self._encode(metadata.model_dump_json().encode(), user_id, f"threads/{thread.id}")
        row = ThreadRow(
            user_pk(user_id),
            keys.thread_sk(thread.id),
            lsi1sk=keys.thread_order_key(thread.id, now),
            updated_at=sortable_time(now),
        )
        _apply_payload(row, payload)
        return row

    def _touch_thread(self, thread_id: str, user_id: str) -> None:
        if not is_safe_id(thread_id):
            return
        now = utc_now()
        try:
            ThreadRow(user_pk(user_id), keys.thread_sk(thread_id)).update(
                actions=[
                    ThreadRow.updated_at.set(sortable_time(now)),
                    ThreadRow.lsi1sk.set(keys.thread_order_key(thread_id, now)),
                ],
                condition=ThreadRow.sk.exists(),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            # No such thread (of this user): the SDK will fail the turn with NotFoundError.

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        return await asyncio.to_thread(
            self._load_threads, limit, after, _order(order), context.user_id
        )

    def _load_threads(
        self, limit: int, after: str | None, order: Order, user_id: str
    ) -> Page[ThreadMetadata]:
        cursor = None
        if after is not None:
            cursor = self._get(ThreadRow, user_id, keys.thread_sk(after), after).lsi1sk
        rows = self._query_index(user_id, keys.THREADS_BY_UPDATE, cursor, limit, order)
        threads = [
            ThreadMetadata.model_validate_json(self._decode(r))
            for r in rows
            if isinstance(r, ThreadRow)
        ]
        return _page(threads, limit, lambda t: t.id)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await asyncio.to_thread(self._delete_thread, thread_id, context.user_id)

    def _delete_thread(self, thread_id: str, user_id: str) -> None:
        if not is_safe_id(thread_id):
            return
        doomed: list[TableRow] = []
        offloaded: list[str] = []
        # Keys only: deleting must not read every item's payload. One prefix holds the
        # thread, its items, feedback, tool effects and stop request.
        for row in TableRow.query(
            user_pk(user_id),
            TableRow.sk.startswith(keys.thread_prefix(thread_id)),
            attributes_to_get=["pk", "sk", "kind", "s3_key", "ts3"],
        ):
            doomed.append(row)
            s3_key = getattr(row, "s3_key", None)
            if s3_key:
                offloaded.append(s3_key)
        with TableRow.batch_write() as batch:  # 25 keys per call, unprocessed keys retried
            for row in doomed:
                batch.delete(row)
        self._codec.delete_offloaded(offloaded)

    # -- items ----------------------------------------------------------------------------
    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        return await asyncio.to_thread(
            self._load_thread_items, thread_id, after, limit, _order(order), context.user_id
        )

    def _load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: Order, user_id: str
    ) -> Page[ThreadItem]:
        if not is_safe_id(thread_id) or limit < 1:
            return Page(data=[], has_more=False, after=None)
        cursor = None
        if after is not None:
            cursor = self._item_key(user_id, thread_id, after)
        rows = self._query_items(user_id, thread_id, cursor, limit, order)
        items = [_ITEM_ADAPTER.validate_json(self._decode(r)) for r in rows]
        return _page(items, limit, lambda i: i.id)

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        # An upsert on purpose: the agents bridge can save the same workflow item twice.
        put = asyncio.to_thread(self._put_item, thread_id, item, context.user_id)
        if item.type != "user_message":
            await put
            return
        # A new message is what makes a thread "recently updated" in the thread list; both
        # writes go out at once so the turn's first byte does not wait for two round trips.
        await asyncio.gather(put, asyncio.to_thread(self._touch_thread, thread_id, context.user_id))

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await asyncio.to_thread(self._put_item, thread_id, item, context.user_id)

    def _put_item(self, thread_id: str, item: ThreadItem, user_id: str) -> None:
        _require_safe(thread_id, item.id)
        self.item_row(thread_id, item, user_id).save()

    def item_row(self, thread_id: str, item: ThreadItem, user_id: str) -> ItemRow:
        """The row an item is stored as (payload encoded, possibly offloaded); not yet saved."""
        raw = _ITEM_ADAPTER.dump_json(item)
        payload = self._encode(raw, user_id, f"items/{thread_id}/{item.id}")
        row = ItemRow(
            user_pk(user_id),
            keys.item_sk(thread_id, item.created_at, item.id),
            lsi1sk=keys.item_id_key(thread_id, item.id),
            item_type=item.type,
        )
        _apply_payload(row, payload)
        return row

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        return await asyncio.to_thread(self._load_item, thread_id, item_id, context.user_id)

    def _load_item(self, thread_id: str, item_id: str, user_id: str) -> ThreadItem:
        sk = self._item_key(user_id, thread_id, item_id)
        row = self._get(ItemRow, user_id, sk, thread_id, item_id)
        return _ITEM_ADAPTER.validate_json(self._decode(row))

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await asyncio.to_thread(self._delete_item, thread_id, item_id, context.user_id)

    def _delete_item(self, thread_id: str, item_id: str, user_id: str) -> None:
        if not (is_safe_id(thread_id) and is_safe_id(item_id)):
            return
        try:
            sk = self._item_key(user_id, thread_id, item_id)
        except NotFoundError:
            return
        old = ItemRow._get_connection().delete_item(user_pk(user_id), sk, return_values="ALL_OLD")
        s3_key = old.get("Attributes", {}).get("s3_key", {}).get("S")
        if s3_key:
            self._codec.delete_offloaded([s3_key])

    # -- attachments ----------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        await asyncio.to_thread(self._save_attachment, attachment, context.user_id)

    def _save_attachment(self, attachment: Attachment, user_id: str) -> None:
        _require_safe(attachment.id)
        raw = _ATTACHMENT_ADAPTER.dump_json(attachment)
        payload = self._encode(raw, user_id, f"attachments/{attachment.id}")
        row = AttachmentRow(
            user_pk(user_id), keys.attachment_sk(attachment.id), attachment_id=attachment.id
        )
        _apply_payload(row, payload)
        row.save()

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        return await asyncio.to_thread(self._load_attachment, attachment_id, context.user_id)

    def _load_attachment(self, attachment_id: str, user_id: str) -> Attachment:
        row = self._get(AttachmentRow, user_id, keys.attachment_sk(attachment_id), attachment_id)
        return _ATTACHMENT_ADAPTER.validate_json(self._decode(row))

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await asyncio.to_thread(self._delete_attachment, attachment_id, context.user_id)

    def _delete_attachment(self, attachment_id: str, user_id: str) -> None:
        if is_safe_id(attachment_id):
            AttachmentRow(user_pk(user_id), keys.attachment_sk(attachment_id)).delete()

    # -- feedback -------------------------------------------------------------------------
    async def save_feedback(
        self,
        thread_id: str,
        item_ids: Iterable[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> int:
        return await asyncio.to_thread(
            self._save_feedback, thread_id, list(item_ids), feedback, context.user_id
        )

    def _save_feedback(
        self, thread_id: str, item_ids: list[str], feedback: str, user_id: str
    ) -> int:
        _require_safe(thread_id, *item_ids)
        pk = user_pk(user_id)
        self._get(ThreadRow, user_id, keys.thread_sk(thread_id), thread_id)
        # The same id twice is one piece of feedback (BatchWriteItem refuses duplicate keys).
        wanted = list(dict.fromkeys(item_ids))
        existing = self._existing_item_ids(user_id, thread_id, wanted)
        now = sortable_time(utc_now())
        applied = 0
        with FeedbackRow.batch_write() as batch:
            for item_id in wanted:
                if item_id not in existing:
                    continue
                batch.save(
                    FeedbackRow(
                        pk,
                        keys.feedback_sk(thread_id, item_id),
                        item_id=item_id,
                        feedback=feedback,
                        created_at=now,
                    )
                )
                applied += 1
        return applied

    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        return await asyncio.to_thread(self._load_feedback, thread_id, context.user_id)

    def _load_feedback(self, thread_id: str, user_id: str) -> dict[str, str]:
        if not is_safe_id(thread_id):
            return {}
        rows = FeedbackRow.query(
            user_pk(user_id), FeedbackRow.sk.startswith(keys.feedback_prefix(thread_id))
        )
        return {row.item_id: row.feedback for row in rows if isinstance(row, FeedbackRow)}

    # -- helpers --------------------------------------------------------------------------
    def _get[R: TableRow](self, cls: type[R], user_id: str, sk: str, *ids: str) -> R:
        _require_safe(*ids)
        try:
            row = cls.get(user_pk(user_id), sk)
        except DoesNotExist:
            raise NotFoundError(f"{ids[-1] if ids else sk} not found") from None
        if not isinstance(row, cls):
            raise NotFoundError(f"{ids[-1] if ids else sk} not found")
        return row

    def _item_key(self, user_id: str, thread_id: str, item_id: str) -> str:
        """The sort key of an item known only by id: one Query of its index entry."""
        _require_safe(thread_id, item_id)
        for row in TableRow.by_order.query(
            user_pk(user_id),
            TableRow.lsi1sk == keys.item_id_key(thread_id, item_id),
            limit=1,
        ):
            return str(row.sk)
        raise NotFoundError(f"{item_id} not found")

    def _existing_item_ids(self, user_id: str, thread_id: str, item_ids: list[str]) -> set[str]:
        if not item_ids:
            return set()
        prefix = keys.item_id_key(thread_id, "")
        low, high = min(item_ids), max(item_ids)
        found = set()
        for row in TableRow.by_order.query(
            user_pk(user_id),
            TableRow.lsi1sk.between(prefix + low, prefix + high),
        ):
            found.add(str(row.lsi1sk)[len(prefix) :])
        return found & set(item_ids)

    def _query_items(
        self, user_id: str, thread_id: str, cursor: str | None, limit: int, order: Order
    ) -> list[ItemRow]:
        """One Query for the `limit + 1` items after the `cursor` sort key, in creation order.

        The key condition is a BETWEEN bounded by the thread's item prefix on both sides, so a
        page never reads the thread's other rows or another thread's.
        """
        prefix = keys.items_prefix(thread_id)
        rows = self._query_range(TableRow.query, TableRow.sk, user_id, prefix, cursor, limit, order)
        return [r for r in rows if isinstance(r, ItemRow)]

    def _query_index(
        self, user_id: str, prefix: str, cursor: str | None, limit: int, order: Order
    ) -> list[TableRow]:
        return self._query_range(
            TableRow.by_order.query, TableRow.lsi1sk, user_id, prefix, cursor, limit, order
        )

    @staticmethod
    def _query_range(
        query: Callable[..., Iterable[TableRow]],
        attribute: Any,
        user_id: str,
        prefix: str,
        cursor: str | None,
        limit: int,
        order: Order,
    ) -> list[TableRow]:
        """`limit + 1` rows after `cursor` within `prefix`; BETWEEN includes the cursor row
        itself, so one extra row is read and dropped."""
        if limit < 1:
            return []
        forward = order == "asc"
        low, high = prefix, prefix + keys.PREFIX_END
        if cursor is not None:
            low, high = (cursor, high) if forward else (low, cursor)
        wanted = limit + 1 + (cursor is not None)
        rows: list[TableRow] = []
        for row in query(
            user_pk(user_id),
            attribute.between(low, high),
            scan_index_forward=forward,
            limit=wanted,
            page_size=wanted,
        ):
            key = row.sk if attribute is TableRow.sk else row.lsi1sk
            if key != cursor:
                rows.append(row)
        return rows[: limit + 1]

    def _encode(self, raw: bytes, user_id: str, name: str) -> EncodedPayload:
        return self._codec.encode(raw, keys.payload_object_key(user_id, name))

    def _decode(self, row: _EncodedRow) -> bytes:
        return self._codec.decode(row.encoding, row.body, row.s3_key)


def _apply_payload(row: _EncodedRow, payload: EncodedPayload) -> None:
    row.encoding = payload.encoding
    row.body = payload.body
    row.s3_key = payload.s3_key


def _order(order: str) -> Order:
    return "asc" if order == "asc" else "desc"


def _page[T](rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    has_more = len(rows) > limit
    data = rows[:limit]
    return Page(data=data, has_more=has_more, after=key(data[-1]) if has_more and data else None)
