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
from typing import Literal

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter
from pynamodb.exceptions import DoesNotExist, UpdateError

from todo_assistant.context import RequestContext
from todo_assistant.ids import is_safe_id, new_id
from todo_assistant.store.payloads import EncodedPayload, PayloadCodec
from todo_assistant.store.table import (
    AttachmentRow,
    FeedbackRow,
    ItemRow,
    StoredBody,
    TableRow,
    ThreadRow,
    user_pk,
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


def sortable_time(value: datetime) -> str:
    """Fixed-width timestamp for sort keys (`isoformat()` drops zero microseconds)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def thread_sk(thread_id: str) -> str:
    return f"THREAD#{thread_id}"


def item_sk(thread_id: str, item_id: str) -> str:
    return f"ITEM#{thread_id}#{item_id}"


def items_prefix(thread_id: str) -> str:
    return f"ITEMS#{thread_id}#"


THREADS_PREFIX = "THREADS#"
# Sorts after every character of a sort key (ids are limited to [A-Za-z0-9_.:-]).
_PREFIX_END = "~"


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
        row = self._get(ThreadRow, user_id, thread_sk(thread_id), thread_id)
        return ThreadMetadata.model_validate_json(self._decode(row))

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        await asyncio.to_thread(self._save_thread, thread, context.user_id)

    def _save_thread(self, thread: ThreadMetadata, user_id: str) -> None:
        _require_safe(thread.id)
        # The SDK sometimes passes a full `Thread`; only its metadata is ever stored.
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        pk = user_pk(user_id)
        updated = sortable_time(utc_now())
        payload = self._encode(metadata.model_dump_json().encode(), user_id, f"threads/{thread.id}")
        row = ThreadRow(
            pk,
            thread_sk(thread.id),
            lsi1sk=f"{THREADS_PREFIX}{updated}#{thread.id}",
            thread_id=thread.id,
            created_at=sortable_time(thread.created_at),
            updated_at=updated,
        )
        _apply_payload(row, payload)
        row.save()

    def _touch_thread(self, thread_id: str, user_id: str) -> None:
        if not is_safe_id(thread_id):
            return
        updated = sortable_time(utc_now())
        try:
            ThreadRow(user_pk(user_id), thread_sk(thread_id)).update(
                actions=[
                    ThreadRow.updated_at.set(updated),
                    ThreadRow.lsi1sk.set(f"{THREADS_PREFIX}{updated}#{thread_id}"),
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
            cursor = self._get(ThreadRow, user_id, thread_sk(after), after).lsi1sk
        rows = self._query_ordered(user_id, THREADS_PREFIX, cursor, limit, order)
        threads = [ThreadMetadata.model_validate_json(self._decode(r)) for r in rows]
        return _page(threads, limit, lambda t: t.id)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        await asyncio.to_thread(self._delete_thread, thread_id, context.user_id)

    def _delete_thread(self, thread_id: str, user_id: str) -> None:
        if not is_safe_id(thread_id):
            return
        pk = user_pk(user_id)
        doomed: list[TableRow] = []
        offloaded: list[str] = []
        # Keys only: deleting must not read every item's payload.
        for prefix in (f"ITEM#{thread_id}#", f"FEEDBACK#{thread_id}#"):
            for row in TableRow.query(
                pk,
                TableRow.sk.startswith(prefix),
                attributes_to_get=["pk", "sk", "kind", "s3_key"],
            ):
                doomed.append(row)
                if isinstance(row, StoredBody) and row.s3_key:
                    offloaded.append(row.s3_key)
        doomed.append(ThreadRow(pk, thread_sk(thread_id)))
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
        if not is_safe_id(thread_id):
            return Page(data=[], has_more=False, after=None)
        cursor = None
        if after is not None:
            cursor = self._get(ItemRow, user_id, item_sk(thread_id, after), after).lsi1sk
        rows = self._query_ordered(user_id, items_prefix(thread_id), cursor, limit, order)
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
        created = sortable_time(item.created_at)
        row = ItemRow(
            user_pk(user_id),
            item_sk(thread_id, item.id),
            lsi1sk=f"{items_prefix(thread_id)}{created}#{item.id}",
            thread_id=thread_id,
            item_id=item.id,
            item_type=item.type,
            created_at=created,
        )
        _apply_payload(row, payload)
        return row

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        return await asyncio.to_thread(self._load_item, thread_id, item_id, context.user_id)

    def _load_item(self, thread_id: str, item_id: str, user_id: str) -> ThreadItem:
        row = self._get(ItemRow, user_id, item_sk(thread_id, item_id), thread_id, item_id)
        return _ITEM_ADAPTER.validate_json(self._decode(row))

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        await asyncio.to_thread(self._delete_item, thread_id, item_id, context.user_id)

    def _delete_item(self, thread_id: str, item_id: str, user_id: str) -> None:
        if not (is_safe_id(thread_id) and is_safe_id(item_id)):
            return
        pk = user_pk(user_id)
        try:
            old = ItemRow.get(
                pk, item_sk(thread_id, item_id), attributes_to_get=["pk", "sk", "kind", "s3_key"]
            )
        except DoesNotExist:
            return
        ItemRow(pk, item_sk(thread_id, item_id)).delete()
        if old.s3_key:
            self._codec.delete_offloaded([old.s3_key])

    # -- attachments ----------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        await asyncio.to_thread(self._save_attachment, attachment, context.user_id)

    def _save_attachment(self, attachment: Attachment, user_id: str) -> None:
        _require_safe(attachment.id)
        raw = _ATTACHMENT_ADAPTER.dump_json(attachment)
        payload = self._encode(raw, user_id, f"attachments/{attachment.id}")
        row = AttachmentRow(
            user_pk(user_id), f"ATTACHMENT#{attachment.id}", attachment_id=attachment.id
        )
        _apply_payload(row, payload)
        row.save()

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        return await asyncio.to_thread(self._load_attachment, attachment_id, context.user_id)

    def _load_attachment(self, attachment_id: str, user_id: str) -> Attachment:
        row = self._get(AttachmentRow, user_id, f"ATTACHMENT#{attachment_id}", attachment_id)
        return _ATTACHMENT_ADAPTER.validate_json(self._decode(row))

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        await asyncio.to_thread(self._delete_attachment, attachment_id, context.user_id)

    def _delete_attachment(self, attachment_id: str, user_id: str) -> None:
        if is_safe_id(attachment_id):
            AttachmentRow(user_pk(user_id), f"ATTACHMENT#{attachment_id}").delete()

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
        self._get(ThreadRow, user_id, thread_sk(thread_id), thread_id)
        keys = [(pk, item_sk(thread_id, item_id)) for item_id in item_ids]
        existing = {row.sk for row in ItemRow.batch_get(keys, attributes_to_get=["pk", "sk"])}
        now = sortable_time(utc_now())
        applied = 0
        with FeedbackRow.batch_write() as batch:
            for item_id in item_ids:
                if item_sk(thread_id, item_id) not in existing:
                    continue
                batch.save(
                    FeedbackRow(
                        pk,
                        f"FEEDBACK#{thread_id}#{item_id}",
                        thread_id=thread_id,
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
            user_pk(user_id), FeedbackRow.sk.startswith(f"FEEDBACK#{thread_id}#")
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

    def _query_ordered(
        self, user_id: str, prefix: str, cursor: str | None, limit: int, order: Order
    ) -> list[StoredBody]:
        """One Query on the ordered index for the `limit + 1` rows after `cursor` in `prefix`.

        The key condition is a BETWEEN bounded by the prefix on both sides, so a page never
        reads the neighbouring thread's rows (and never another user's: the partition is the
        user's). BETWEEN includes the cursor row itself, so one extra row is read and dropped.
        """
        forward = order == "asc"
        low, high = prefix, prefix + _PREFIX_END
        if cursor is not None:
            low, high = (cursor, high) if forward else (low, cursor)
        wanted = limit + 1 + (cursor is not None)
        rows: list[StoredBody] = []
        for row in TableRow.by_order.query(
            user_pk(user_id),
            TableRow.lsi1sk.between(low, high),
            scan_index_forward=forward,
            limit=wanted,
            page_size=wanted,
        ):
            if row.lsi1sk != cursor and isinstance(row, StoredBody):
                rows.append(row)
        return rows[: limit + 1]

    def _encode(self, raw: bytes, user_id: str, name: str) -> EncodedPayload:
        return self._codec.encode(raw, f"users/{user_id}/{name}.json.z")

    def _decode(self, row: StoredBody) -> bytes:
        return self._codec.decode(row.encoding, row.body, row.s3_key)


def _apply_payload(row: StoredBody, payload: EncodedPayload) -> None:
    row.encoding = payload.encoding
    row.body = payload.body
    row.s3_key = payload.s3_key


def _order(order: str) -> Order:
    return "asc" if order == "asc" else "desc"


def _page[T](rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    has_more = len(rows) > limit
    data = rows[:limit]
    return Page(data=data, has_more=has_more, after=key(data[-1]) if has_more and data else None)
