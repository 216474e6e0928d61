"""The ChatKit store's rows on the shared table: how threads, items, tool effects and
attachments are encoded into rows and read back, and how a range of them becomes a page.

Every key is built from the user id it is given (db/keys.py), so a row of another user can
never be named. `StoreRows` does no I/O beyond single reads and range queries; which rows a
request writes, and when, is the store's (dynamo.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from chatkit.store import NotFoundError
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from todo_assistant.db import keys
from todo_assistant.db.expiry import pending_attachment_expiry, thread_expiry
from todo_assistant.db.keys import sortable_time, user_pk
from todo_assistant.db.payloads import EncodedPayload, PayloadCodec
from todo_assistant.db.table import (
    AttachmentRow,
    EffectsRow,
    ItemRow,
    StoredBody,
    TableRow,
    ThreadRow,
)
from todo_assistant.ids import is_safe_id

ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
ATTACHMENT_ADAPTER: TypeAdapter[Attachment] = TypeAdapter(Attachment)

Order = Literal["asc", "desc"]

# Rows that carry an encoded payload (threads name its attributes differently: see table.py).
type EncodedRow = StoredBody | ThreadRow


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def require_safe(*ids: str) -> None:
    for value in ids:
        if not is_safe_id(value):
            # A malformed id can never name a stored row: answer exactly like a missing one.
            raise NotFoundError(f"{value!r} not found")


class StoreRows:
    """Builds and reads the store's rows; payloads go through `codec` (compressed, or
    offloaded to S3 when too large for an item)."""

    def __init__(self, codec: PayloadCodec, *, thread_retention_days: int = 0) -> None:
        self.codec = codec
        # Writing or touching a thread sets its TTL this far ahead (0: never expires).
        self.thread_retention_days = thread_retention_days

    # -- building rows (not yet saved) -----------------------------------------------------
    def thread_row(self, thread: ThreadMetadata, user_id: str) -> ThreadRow:
        """The row a thread's metadata is stored as, ordered as updated now."""
        require_safe(thread.id)
        now = utc_now()
        payload = self.encode(thread.model_dump_json().encode(), user_id, f"threads/{thread.id}")
        row = ThreadRow(
            user_pk(user_id),
            keys.thread_sk(thread.id),
            lsi1sk=keys.thread_order_key(thread.id, now),
            updated_at=sortable_time(now),
            expires_at=thread_expiry(now, self.thread_retention_days),
        )
        apply_payload(row, payload)
        return row

    def thread_touch_actions(self, thread_id: str, now: datetime) -> list[Action]:
        """Moving a thread to the top of its user's list; touching it pushes its expiry back
        (THREAD_RETENTION_DAYS)."""
        expires = thread_expiry(now, self.thread_retention_days)
        return [
            ThreadRow.updated_at.set(sortable_time(now)),
            ThreadRow.lsi1sk.set(keys.thread_order_key(thread_id, now)),
            *([ThreadRow.expires_at.set(expires)] if expires else []),
        ]

    def item_row(self, thread_id: str, item: ThreadItem, user_id: str) -> ItemRow:
        """The row an item is stored as (payload encoded, possibly offloaded)."""
        raw = ITEM_ADAPTER.dump_json(item)
        payload = self.encode(raw, user_id, f"items/{thread_id}/{item.id}")
        row = ItemRow(
            user_pk(user_id),
            keys.item_sk(thread_id, item.created_at, item.id),
            lsi1sk=keys.item_id_key(thread_id, item.id),
            item_type=item.type,
        )
        apply_payload(row, payload)
        return row

    def effects_row(self, thread_id: str, message_id: str, record: str, user_id: str) -> EffectsRow:
        """The row a message's tool-effect record is stored as."""
        payload = self.encode(record.encode(), user_id, f"effects/{thread_id}/{message_id}")
        row = EffectsRow(user_pk(user_id), keys.effects_sk(thread_id, message_id))
        apply_payload(row, payload)
        return row

    def attachment_row(self, attachment: Attachment, user_id: str) -> AttachmentRow:
        require_safe(attachment.id)
        raw = ATTACHMENT_ADAPTER.dump_json(attachment)
        payload = self.encode(raw, user_id, f"attachments/{attachment.id}")
        row = AttachmentRow(
            user_pk(user_id), keys.attachment_sk(attachment.id), attachment_id=attachment.id
        )
        apply_payload(row, payload)
        row.expires_at = pending_attachment_expiry(attachment.thread_id is not None)
        return row

    # -- reading rows back -------------------------------------------------------------------
    def thread(self, row: ThreadRow) -> ThreadMetadata:
        return ThreadMetadata.model_validate_json(self.decode(row))

    def item(self, row: EncodedRow) -> ThreadItem:
        return ITEM_ADAPTER.validate_json(self.decode(row))

    def attachment(self, row: AttachmentRow) -> Attachment:
        return ATTACHMENT_ADAPTER.validate_json(self.decode(row))

    def encode(self, raw: bytes, user_id: str, name: str) -> EncodedPayload:
        return self.codec.encode(raw, keys.payload_object_key(user_id, name))

    def decode(self, row: EncodedRow) -> bytes:
        return self.codec.decode(row.encoding, row.body, row.s3_key)

    # -- deleting --------------------------------------------------------------------------
    def delete_thread(self, thread_id: str, user_id: str) -> None:
        """Every row of the user's thread and the objects they offloaded; a malformed id:
        nothing."""
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
        self.codec.delete_offloaded(offloaded)

    def delete_item(self, thread_id: str, item_id: str, sk: str | None, user_id: str) -> None:
        """One item of the user's thread (`sk` when known, else looked up) and its offloaded
        payload; a missing item: nothing."""
        if not (is_safe_id(thread_id) and is_safe_id(item_id)):
            return
        if sk is None:
            try:
                sk = self.item_key(user_id, thread_id, item_id)
            except NotFoundError:
                return
        old = ItemRow._get_connection().delete_item(user_pk(user_id), sk, return_values="ALL_OLD")
        s3_key = old.get("Attributes", {}).get("s3_key", {}).get("S")
        if s3_key:
            self.codec.delete_offloaded([s3_key])

    # -- single reads and ranges -------------------------------------------------------------
    def thread_with_history(
        self, thread_id: str, user_id: str, history_items: int
    ) -> tuple[ThreadMetadata, list[ThreadItem], bool]:
        """One Query read backwards from the thread's META row: the thread, then its newest
        `history_items` items, newest first (META sorts after every ITEM# key of the same
        thread), and whether those are all of its items."""
        require_safe(thread_id)
        wanted = history_items + 2  # META, the items, one more to know if that's all
        rows = list(
            TableRow.query(
                user_pk(user_id),
                TableRow.sk.between(keys.items_prefix(thread_id), keys.thread_sk(thread_id)),
                scan_index_forward=False,
                consistent_read=True,
                limit=wanted,
                page_size=wanted,
            )
        )
        if not rows or not isinstance(rows[0], ThreadRow):
            raise NotFoundError(f"{thread_id} not found")
        items = [self.item(r) for r in rows[1:] if isinstance(r, ItemRow)]
        return self.thread(rows[0]), items[:history_items], len(items) <= history_items

    @staticmethod
    def get[R: TableRow](cls: type[R], user_id: str, sk: str, *ids: str) -> R:
        require_safe(*ids)
        try:
            row = cls.get(user_pk(user_id), sk)
        except DoesNotExist:
            raise NotFoundError(f"{ids[-1] if ids else sk} not found") from None
        if not isinstance(row, cls):
            raise NotFoundError(f"{ids[-1] if ids else sk} not found")
        return row

    @staticmethod
    def item_key(user_id: str, thread_id: str, item_id: str) -> str:
        """The sort key of an item known only by id: one Query of its index entry."""
        require_safe(thread_id, item_id)
        for row in TableRow.by_order.query(
            user_pk(user_id),
            TableRow.lsi1sk == keys.item_id_key(thread_id, item_id),
            limit=1,
        ):
            return str(row.sk)
        raise NotFoundError(f"{item_id} not found")

    @staticmethod
    def existing_item_ids(user_id: str, thread_id: str, item_ids: list[str]) -> set[str]:
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

    @classmethod
    def query_items(
        cls, user_id: str, thread_id: str, cursor: str | None, limit: int, order: Order
    ) -> list[ItemRow]:
        """One Query for the `limit + 1` items after the `cursor` sort key, in creation order.

        The key condition is a BETWEEN bounded by the thread's item prefix on both sides, so a
        page never reads the thread's other rows or another thread's.
        """
        prefix = keys.items_prefix(thread_id)
        rows = cls.query_range(TableRow.query, TableRow.sk, user_id, prefix, cursor, limit, order)
        return [r for r in rows if isinstance(r, ItemRow)]

    @classmethod
    def query_index(
        cls, user_id: str, prefix: str, cursor: str | None, limit: int, order: Order
    ) -> list[TableRow]:
        return cls.query_range(
            TableRow.by_order.query, TableRow.lsi1sk, user_id, prefix, cursor, limit, order
        )

    @staticmethod
    def query_range(
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


def apply_payload(row: EncodedRow, payload: EncodedPayload) -> None:
    row.encoding = payload.encoding
    row.body = payload.body
    row.s3_key = payload.s3_key


def connection() -> Connection:
    """The shared low-level connection (transactions are not bound to one model class)."""
    return TableRow._get_connection().connection


def order_of(order: str) -> Order:
    return "asc" if order == "asc" else "desc"


def page[T](rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """`rows` read as `limit + 1`: the page, whether more follow, and the cursor after it."""
    # A page of no rows (limit 0 or less) is empty and has nothing after it.
    has_more = limit > 0 and len(rows) > limit
    data = rows[: max(limit, 0)]
    return Page(data=data, has_more=has_more, after=key(data[-1]) if has_more and data else None)
