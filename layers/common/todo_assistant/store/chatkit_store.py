"""openai-chatkit `Store` on DynamoDB: threads, items, attachment metadata and feedback.

Every method takes the user id from `context` (a verified token) and builds keys from it, so
another user's id is indistinguishable from a missing one. pynamodb is synchronous; each
method runs in a worker thread so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
import copy
from abc import abstractmethod
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import (
    Attachment,
    FeedbackKind,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadMetadata,
)
from pydantic import TypeAdapter
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from todo_assistant.config import DEFAULT_HISTORY_ITEM_LIMIT
from todo_assistant.context import RequestContext
from todo_assistant.ids import is_safe_id, new_id
from todo_assistant.lifecycle.retention import thread_expiry
from todo_assistant.store import keys
from todo_assistant.store.keys import sortable_time, user_pk
from todo_assistant.store.payloads import EncodedPayload, PayloadCodec
from todo_assistant.store.request_scope import CachedThread, PendingThread, RequestScope
from todo_assistant.store.table import (
    AttachmentRow,
    EffectsRow,
    FeedbackRow,
    ItemRow,
    StoredBody,
    TableRow,
    ThreadRow,
)

if TYPE_CHECKING:
    from todo_assistant.limits import PlannedWindow, RateLimiter

_ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
# An uploaded file no message ever used disappears by itself (DynamoDB TTL on `expires_at`).
PENDING_ATTACHMENT_TTL = timedelta(hours=24)
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

    @abstractmethod
    async def load_effects(
        self, thread_id: str, message_id: str, context: RequestContext
    ) -> str | None:
        """The tool-effect record of one of the user's messages (`agent/effects.py` owns its
        JSON), None when there is none."""

    @abstractmethod
    async def save_effects(
        self, thread_id: str, message_id: str, record: str, context: RequestContext
    ) -> None:
        """Replace the tool-effect record of one of the user's messages."""

    async def settle(self, context: RequestContext) -> None:
        """Finish the reads the request left running (a store that reads nothing ahead:
        nothing)."""

    async def flush(self, context: RequestContext) -> None:
        """Write whatever the request held back (a store that holds nothing back: nothing)."""


class DynamoChatKitStore(TodoStore):
    """The Store on DynamoDB. Within one request (`_scope(context)`) it remembers what it read
    and wrote, so a turn costs one read (thread + recent history), one write that records the
    user's message and moves the thread up the list, and one write per answer."""

    def __init__(
        self,
        codec: PayloadCodec,
        *,
        turn_history_items: int = DEFAULT_HISTORY_ITEM_LIMIT,
        thread_retention_days: int = 0,
    ) -> None:
        self._codec = codec
        # How many of the newest items a turn reads along with its thread.
        self.turn_history_items = turn_history_items
        # Writing or touching a thread sets its TTL this far ahead (0: never expires).
        self.thread_retention_days = thread_retention_days

    def generate_thread_id(self, context: RequestContext) -> str:
        thread_id = super().generate_thread_id(context)
        scope = _scope(context)
        if scope is not None:
            scope.created_threads.add(thread_id)
        return thread_id

    # -- threads --------------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        scope = _scope(context)
        if scope is None:
            return await asyncio.to_thread(self._load_thread, thread_id, context.user_id)
        if scope.overlap_opening and not scope.threads and not scope.pending:
            # The request's first read: hand out the thread now and read it while the user's
            # message is written (that write fails if the thread is missing): the first event
            # leaves as soon as the message is durable, without waiting for this read.
            _require_safe(thread_id)
            read = asyncio.create_task(
                asyncio.to_thread(
                    # One item more: the read may already see the message being written.
                    self._load_thread_with_history,
                    thread_id,
                    context.user_id,
                    self.turn_history_items + 1,
                )
            )
            handed_out = ThreadMetadata(id=thread_id, created_at=utc_now())
            scope.pending[thread_id] = PendingThread(read, handed_out)
            return handed_out
        await _settle(scope)
        cached = scope.threads.get(thread_id)
        if cached is None:
            if scope.turn:
                cached = await asyncio.to_thread(
                    self._load_thread_with_history, thread_id, context.user_id
                )
            else:
                metadata = await asyncio.to_thread(self._load_thread, thread_id, context.user_id)
                cached = CachedThread(metadata, metadata.model_dump_json())
            scope.threads[thread_id] = cached
        return cached.metadata.model_copy(deep=True)

    def _load_thread(self, thread_id: str, user_id: str) -> ThreadMetadata:
        row = self._get(ThreadRow, user_id, keys.thread_sk(thread_id), thread_id)
        return ThreadMetadata.model_validate_json(self._decode(row))

    def _load_thread_with_history(
        self, thread_id: str, user_id: str, history_items: int | None = None
    ) -> CachedThread:
        """One Query read backwards from the thread's META row: the thread, then its newest
        items (META sorts after every ITEM# key of the same thread)."""
        _require_safe(thread_id)
        history_items = history_items or self.turn_history_items
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
        metadata = ThreadMetadata.model_validate_json(self._decode(rows[0]))
        items = [
            _ITEM_ADAPTER.validate_json(self._decode(r)) for r in rows[1:] if isinstance(r, ItemRow)
        ]
        complete = len(items) <= history_items
        return CachedThread(metadata, metadata.model_dump_json(), items[:history_items], complete)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        # The SDK sometimes passes a full `Thread`; only its metadata is ever stored.
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        scope = await _settled_scope(context)
        if scope is None:
            await asyncio.to_thread(self._save_thread, metadata, context.user_id)
            return
        cached = scope.threads.get(metadata.id)
        if cached is None and metadata.id in scope.created_threads:
            # Created by this request: written together with its first message.
            scope.threads[metadata.id] = CachedThread(metadata, None, [], complete=True)
            return
        if cached is not None:
            cached.metadata = metadata
            if cached.stored_json is None or cached.stored_json == metadata.model_dump_json():
                return  # not written yet, or nothing changed
        await asyncio.to_thread(self._save_thread, metadata, context.user_id)
        if cached is not None:
            cached.stored_json = metadata.model_dump_json()

    def _save_thread(self, thread: ThreadMetadata, user_id: str) -> None:
        self.thread_row(thread, user_id).save()

    def thread_row(self, thread: ThreadMetadata, user_id: str) -> ThreadRow:
        """The row a thread's metadata is stored as, ordered as updated now; not yet saved."""
        _require_safe(thread.id)
        now = utc_now()
        payload = self._encode(thread.model_dump_json().encode(), user_id, f"threads/{thread.id}")
        row = ThreadRow(
            user_pk(user_id),
            keys.thread_sk(thread.id),
            lsi1sk=keys.thread_order_key(thread.id, now),
            updated_at=sortable_time(now),
            expires_at=thread_expiry(now, self.thread_retention_days),
        )
        _apply_payload(row, payload)
        return row

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
        scope = await _settled_scope(context)
        if scope is not None:
            scope.threads.pop(thread_id, None)
            scope.staged = [s for s in scope.staged if s[0] != thread_id]
            for key in [k for k in scope.effects if k[0] == thread_id]:
                scope.effects.pop(key)
                scope.staged_effects.pop(key, None)
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
        scope = await _settled_scope(context)
        if scope is not None:
            cached = scope.threads.get(thread_id)
            if cached is not None:
                page = _page_from_cache(cached, after, limit, _order(order))
                if page is not None:
                    return page
            await self.flush(context)
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
        # Every item write is an upsert: the agents bridge can save the same item twice.
        if item.type == "user_message":
            # Does not wait for a thread read left running by load_thread (the stream
            # settles it after this message's event): the message is remembered meanwhile.
            scope = _scope(context)
            await self._record_user_message(thread_id, item, context)
        elif (scope := await _settled_scope(context)) is not None and isinstance(
            item, HiddenContextItem | SDKHiddenContextItem
        ):
            # Never shown to the client: it rides along with the request's next write.
            _require_safe(thread_id, item.id)
            scope.staged.append((thread_id, item))
        else:
            await self._write_items([(thread_id, item)], context)
        if scope is not None:
            _remember_in_scope(scope, thread_id, item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await self._write_items([(thread_id, item)], context)
        scope = await _settled_scope(context)
        if scope is not None:
            _remember_in_scope(scope, thread_id, item)

    async def _write_items(
        self, writes: list[tuple[str, ThreadItem]], context: RequestContext
    ) -> None:
        """Write items, plus whatever the request staged, in as few calls as possible.

        A write that fails leaves all it carried staged (items included), so the request's
        last flush tries it once more: a turn that fails on the table keeps what it can."""
        for thread_id, item in writes:
            _require_safe(thread_id, item.id)
        scope = await _settled_scope(context)
        staged: list[tuple[str, ThreadItem]] = []
        effects: dict[tuple[str, str], str] = {}
        if scope is not None:
            staged, effects = scope.staged, scope.staged_effects
            scope.staged, scope.staged_effects = [], {}
        try:
            await asyncio.to_thread(self._put_items, staged + writes, effects, context.user_id)
        except BaseException:
            if scope is not None:
                retried = {(t, i.id) for t, i in writes}
                kept = [s for s in staged if (s[0], s[1].id) not in retried]
                scope.staged = kept + writes + scope.staged
                scope.staged_effects = effects | scope.staged_effects
            raise

    def _put_items(
        self,
        writes: list[tuple[str, ThreadItem]],
        effects: dict[tuple[str, str], str],
        user_id: str,
    ) -> None:
        rows: list[TableRow] = [
            self.item_row(thread_id, item, user_id) for thread_id, item in writes
        ]
        rows += [self.effects_row(t, m, record, user_id) for (t, m), record in effects.items()]
        if len(rows) == 1:
            rows[0].save()
            return
        with TableRow.batch_write() as batch:
            for row in rows:
                batch.save(row)

    async def settle(self, context: RequestContext) -> None:
        """Finish the thread reads this request left running (see load_thread)."""
        await _settled_scope(context)

    async def flush(self, context: RequestContext) -> None:
        """Write what the request staged; called before reads that go to the table and when
        the request ends."""
        scope = _scope(context)
        if scope is not None and scope.pending:
            # A request that ended before its first write: its thread read is not needed.
            for pending in scope.pending.values():
                pending.read.cancel()
            await asyncio.gather(*(p.read for p in scope.pending.values()), return_exceptions=True)
            scope.pending.clear()
        if scope is not None and (scope.staged or scope.staged_effects):
            await self._write_items([], context)

    async def _record_user_message(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        """The turn's first write: the message, and the thread moved to the top of the list
        (created, for a new thread), atomically and in one call."""
        scope = _scope(context)
        cached = scope.threads.get(thread_id) if scope is not None else None
        new_thread = cached.metadata if cached is not None and cached.stored_json is None else None
        staged = scope.staged if scope is not None else []
        effects = scope.staged_effects if scope is not None else {}
        limiter = scope.turn_limiter if scope is not None else None
        write = asyncio.to_thread(
            self._write_user_message,
            thread_id,
            item,
            new_thread,
            staged,
            effects,
            context.user_id,
            limiter,
        )
        # A thread read left running by load_thread goes on: the message is acknowledged as
        # soon as it is durable, and the read is settled before the turn goes further (the
        # server's stream calls `settle` before asking for the next event).
        await write
        if scope is not None:
            scope.staged, scope.staged_effects = [], {}
            scope.turn_limiter = None  # counted once per request
            # A message just written has no tool effects yet: nothing to read before its turn.
            scope.effects[(thread_id, item.id)] = None
        if cached is not None and new_thread is not None:
            cached.stored_json = new_thread.model_dump_json()

    def _write_user_message(
        self,
        thread_id: str,
        item: ThreadItem,
        new_thread: ThreadMetadata | None,
        staged: list[tuple[str, ThreadItem]],
        effects: dict[tuple[str, str], str],
        user_id: str,
        limiter: RateLimiter | None = None,
    ) -> None:
        _require_safe(thread_id, item.id)
        now = utc_now()
        planned: list[PlannedWindow] = []
        try:
            # The message id as the request token: DynamoDB applies a transaction retried
            # after a timeout once, not twice (the SDK's own retries included).
            with TransactWrite(
                connection=_connection(), client_request_token=item.id[:36]
            ) as transaction:
                if limiter is not None:
                    planned = limiter.add_to(transaction, user_id)
                if new_thread is not None:
                    transaction.save(
                        self.thread_row(new_thread, user_id),
                        condition=ThreadRow.sk.does_not_exist(),
                    )
                else:
                    transaction.update(
                        ThreadRow(user_pk(user_id), keys.thread_sk(thread_id)),
                        actions=[
                            ThreadRow.updated_at.set(sortable_time(now)),
                            ThreadRow.lsi1sk.set(keys.thread_order_key(thread_id, now)),
                            *self._expiry_actions(now),
                        ],
                        condition=ThreadRow.sk.exists(),
                    )
                transaction.save(self.item_row(thread_id, item, user_id))
                for staged_thread, staged_item in staged:
                    transaction.save(self.item_row(staged_thread, staged_item, user_id))
                for (effects_thread, message_id), record in effects.items():
                    transaction.save(self.effects_row(effects_thread, message_id, record, user_id))
        except TransactWriteError as error:
            if limiter is not None and (refused := limiter.refusal(error, planned)) is not None:
                raise refused from None
            # Otherwise the thread's is the only condition: missing (updating) or already
            # there (creating), this user has no such thread to add a first message to.
            reasons = error.cancellation_reasons or []
            if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
                raise NotFoundError(f"{thread_id} not found") from None
            raise

    def _expiry_actions(self, now: datetime) -> list[Action]:
        """Touching a thread pushes its expiry back (THREAD_RETENTION_DAYS)."""
        expires = thread_expiry(now, self.thread_retention_days)
        return [ThreadRow.expires_at.set(expires)] if expires else []

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
        scope = await _settled_scope(context)
        if scope is not None:
            cached = scope.threads.get(thread_id)
            for item in cached.newest if cached is not None else []:
                if item.id == item_id:
                    return _request_copy(item)
            await self.flush(context)
        return await asyncio.to_thread(self._load_item, thread_id, item_id, context.user_id)

    def _load_item(self, thread_id: str, item_id: str, user_id: str) -> ThreadItem:
        sk = self._item_key(user_id, thread_id, item_id)
        row = self._get(ItemRow, user_id, sk, thread_id, item_id)
        return _ITEM_ADAPTER.validate_json(self._decode(row))

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        sk: str | None = None
        scope = await _settled_scope(context)
        if scope is not None:
            scope.staged = [s for s in scope.staged if (s[0], s[1].id) != (thread_id, item_id)]
            cached = scope.threads.get(thread_id)
            if cached is not None:
                for item in cached.newest:
                    if item.id == item_id:
                        sk = keys.item_sk(thread_id, item.created_at, item_id)
                cached.newest = [i for i in cached.newest if i.id != item_id]
        await asyncio.to_thread(self._delete_item, thread_id, item_id, sk, context.user_id)

    def _delete_item(self, thread_id: str, item_id: str, sk: str | None, user_id: str) -> None:
        if not (is_safe_id(thread_id) and is_safe_id(item_id)):
            return
        if sk is None:
            try:
                sk = self._item_key(user_id, thread_id, item_id)
            except NotFoundError:
                return
        old = ItemRow._get_connection().delete_item(user_pk(user_id), sk, return_values="ALL_OLD")
        s3_key = old.get("Attributes", {}).get("s3_key", {}).get("S")
        if s3_key:
            self._codec.delete_offloaded([s3_key])

    # -- tool effects ---------------------------------------------------------------------
    async def load_effects(
        self, thread_id: str, message_id: str, context: RequestContext
    ) -> str | None:
        """One strongly consistent GetItem, or none at all: a message this request wrote has
        no record yet, and a record this request read or wrote is remembered."""
        key = (thread_id, message_id)
        scope = _scope(context)
        if scope is not None and key in scope.effects:
            return scope.effects[key]
        record = await asyncio.to_thread(self._load_effects, thread_id, message_id, context.user_id)
        if scope is not None:
            scope.effects[key] = record
        return record

    def _load_effects(self, thread_id: str, message_id: str, user_id: str) -> str | None:
        if not (is_safe_id(thread_id) and is_safe_id(message_id)):
            return None
        try:
            row = EffectsRow.get(
                user_pk(user_id), keys.effects_sk(thread_id, message_id), consistent_read=True
            )
        except DoesNotExist:
            return None
        return self._decode(row).decode() if isinstance(row, EffectsRow) else None

    async def save_effects(
        self, thread_id: str, message_id: str, record: str, context: RequestContext
    ) -> None:
        """Within a request the record rides along with the request's next write (at the
        latest its last flush); outside one it is written at once."""
        _require_safe(thread_id, message_id)
        scope = _scope(context)
        if scope is None:
            await asyncio.to_thread(
                lambda: self.effects_row(thread_id, message_id, record, context.user_id).save()
            )
            return
        scope.effects[(thread_id, message_id)] = record
        scope.staged_effects[(thread_id, message_id)] = record

    def effects_row(self, thread_id: str, message_id: str, record: str, user_id: str) -> EffectsRow:
        """The row a message's tool-effect record is stored as; not yet saved."""
        payload = self._encode(record.encode(), user_id, f"effects/{thread_id}/{message_id}")
        row = EffectsRow(user_pk(user_id), keys.effects_sk(thread_id, message_id))
        _apply_payload(row, payload)
        return row

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
        row.expires_at = pending_attachment_expiry(attachment)
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


def pending_attachment_expiry(attachment: Attachment) -> datetime | None:
    """Until a message binds it to a thread, an attachment's metadata row expires."""
    if attachment.thread_id is not None:
        return None
    return datetime.now(UTC) + PENDING_ATTACHMENT_TTL


def _apply_payload(row: _EncodedRow, payload: EncodedPayload) -> None:
    row.encoding = payload.encoding
    row.body = payload.body
    row.s3_key = payload.s3_key


async def _settle(scope: RequestScope) -> None:
    """Finish the thread reads left running by `load_thread` and fill in the metadata it
    handed out, so nothing of the request sees a thread before its read is done."""
    while scope.pending:
        thread_id, pending = scope.pending.popitem()
        cached = await pending.read
        scope.threads[thread_id] = cached
        for name in type(cached.metadata).model_fields:
            setattr(pending.handed_out, name, copy.deepcopy(getattr(cached.metadata, name)))
        # Written while the read ran: it may or may not have seen them.
        for item in pending.written:
            _remember(cached, item)


async def _settled_scope(context: RequestContext) -> RequestScope | None:
    scope = _scope(context)
    if scope is not None:
        await _settle(scope)
    return scope


def _scope(context: RequestContext) -> RequestScope | None:
    return context.scope if isinstance(context.scope, RequestScope) else None


def _connection() -> Connection:
    """The shared low-level connection (transactions are not bound to one model class)."""
    return TableRow._get_connection().connection


def _remember_in_scope(scope: RequestScope, thread_id: str, item: ThreadItem) -> None:
    if thread_id in scope.threads:
        _remember(scope.threads[thread_id], item)
    elif thread_id in scope.pending:
        scope.pending[thread_id].written.append(item)


def _remember(cached: CachedThread, item: ThreadItem) -> None:
    """Keep a request's view of a thread's newest items true after it wrote `item`."""
    for index, known in enumerate(cached.newest):
        if known.id == item.id:
            cached.newest[index] = item
            return
    cached.newest.insert(0, item)
    cached.newest.sort(key=lambda i: (keys.sortable_time(i.created_at), i.id), reverse=True)


def _page_from_cache(
    cached: CachedThread, after: str | None, limit: int, order: Order
) -> Page[ThreadItem] | None:
    """The page a read would return, when the request's view of the thread holds all of it."""
    if limit < 1:
        return Page(data=[], has_more=False, after=None)
    newest = cached.newest if order == "desc" else None
    if newest is None:
        if not cached.complete:
            return None
        newest = list(reversed(cached.newest))
    start = 0
    if after is not None:
        ids = [i.id for i in newest]
        if after not in ids:
            return None
        start = ids.index(after) + 1
    window = newest[start : start + limit + 1]
    if len(window) <= limit and not cached.complete and order == "desc":
        return None  # the page may continue past what this request has seen
    return _page([_request_copy(i) for i in window], limit, lambda i: i.id)


def _request_copy(item: ThreadItem) -> ThreadItem:
    """An item from the request's own view of its thread, for a caller of the same request.

    A shallow copy: a caller may set an item's fields (the SDK does, before saving it) without
    changing the request's view; nested values (content, widget trees) are shared and read
    only. A deep copy of a turn's history, half of it task widgets, costs milliseconds per
    read (0.3 ms a card); the view lives only as long as the request.
    """
    return item.model_copy()


def _order(order: str) -> Order:
    return "asc" if order == "asc" else "desc"


def _page[T](rows: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    # A page of no rows (limit 0 or less) is empty and has nothing after it.
    has_more = limit > 0 and len(rows) > limit
    data = rows[: max(limit, 0)]
    return Page(data=data, has_more=has_more, after=key(data[-1]) if has_more and data else None)
