"""openai-chatkit `Store` on DynamoDB: threads, items, attachment metadata, feedback and tool
effects, and when each request reads and writes them.

Every method takes the user id from `context` (a verified token) and builds keys from it, so
another user's id is indistinguishable from a missing one. pynamodb is synchronous; each
method runs in a worker thread so the event loop keeps streaming. How rows look is
`rows.py`'s; what one request remembers and holds back is `request_scope.py`'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chatkit.types import (
    Attachment,
    FeedbackKind,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    ThreadItem,
    ThreadMetadata,
)
from pynamodb.exceptions import DoesNotExist

from todo_assistant.config import DEFAULT_HISTORY_ITEM_LIMIT
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.db.keys import user_pk
from todo_assistant.db.payloads import PayloadCodec
from todo_assistant.db.table import (
    AttachmentRow,
    EffectsRow,
    ItemRow,
    TableRow,
    ThreadRow,
)
from todo_assistant.ids import is_safe_id
from todo_assistant.store.base import TodoStore
from todo_assistant.store.feedback import load_feedback_rows, save_feedback_rows
from todo_assistant.store.opening import write_opening
from todo_assistant.store.request_scope import (
    CachedThread,
    PendingThread,
    page_from_cache,
    remember_in_scope,
    request_copy,
    scope_of,
    settle,
    settled_scope,
)
from todo_assistant.store.rows import (
    Order,
    StoreRows,
    order_of,
    page,
    require_safe,
    utc_now,
)


class DynamoChatKitStore(TodoStore):
    """The Store on DynamoDB. Within one request (`scope_of(context)`) it remembers what it read
    and wrote, so a turn costs one read (thread + recent history), one write that records the
    user's message and moves the thread up the list, and one write per answer."""

    def __init__(
        self,
        codec: PayloadCodec,
        *,
        turn_history_items: int = DEFAULT_HISTORY_ITEM_LIMIT,
        thread_retention_days: int = 0,
    ) -> None:
        self._rows = StoreRows(codec, thread_retention_days=thread_retention_days)
        # How many of the newest items a turn reads along with its thread.
        self.turn_history_items = turn_history_items

    def generate_thread_id(self, context: RequestContext) -> str:
        thread_id = super().generate_thread_id(context)
        scope = scope_of(context)
        if scope is not None:
            scope.created_threads.add(thread_id)
        return thread_id

    # -- threads --------------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        scope = scope_of(context)
        if scope is None:
            return await asyncio.to_thread(self._load_thread, thread_id, context.user_id)
        if scope.overlap_opening and not scope.threads and not scope.pending:
            # The request's first read: hand out the thread now and read it while the user's
            # message is written (that write fails if the thread is missing): the first event
            # leaves as soon as the message is durable, without waiting for this read.
            require_safe(thread_id)
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
        await settle(scope)
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

    def _load_thread_with_history(
        self, thread_id: str, user_id: str, history_items: int | None = None
    ) -> CachedThread:
        history_items = history_items or self.turn_history_items
        metadata, items, complete = self._rows.thread_with_history(
            thread_id, user_id, history_items
        )
        return CachedThread(metadata, metadata.model_dump_json(), items, complete)

    def _load_thread(self, thread_id: str, user_id: str) -> ThreadMetadata:
        row = self._rows.get(ThreadRow, user_id, keys.thread_sk(thread_id), thread_id)
        return self._rows.thread(row)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        # The SDK sometimes passes a full `Thread`; only its metadata is ever stored.
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        scope = await settled_scope(context)
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
        self._rows.thread_row(thread, user_id).save()

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        return await asyncio.to_thread(
            self._load_threads, limit, after, order_of(order), context.user_id
        )

    def _load_threads(
        self, limit: int, after: str | None, order: Order, user_id: str
    ) -> Page[ThreadMetadata]:
        cursor = None
        if after is not None:
            cursor = self._rows.get(ThreadRow, user_id, keys.thread_sk(after), after).lsi1sk
        rows = self._rows.query_index(user_id, keys.THREADS_BY_UPDATE, cursor, limit, order)
        threads = [self._rows.thread(r) for r in rows if isinstance(r, ThreadRow)]
        return page(threads, limit, lambda t: t.id)

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        scope = await settled_scope(context)
        if scope is not None:
            scope.threads.pop(thread_id, None)
            scope.staged = [s for s in scope.staged if s[0] != thread_id]
            for key in [k for k in scope.effects if k[0] == thread_id]:
                scope.effects.pop(key)
                scope.staged_effects.pop(key, None)
        await asyncio.to_thread(self._rows.delete_thread, thread_id, context.user_id)

    # -- items ----------------------------------------------------------------------------
    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        scope = await settled_scope(context)
        if scope is not None:
            cached = scope.threads.get(thread_id)
            if cached is not None:
                from_cache = page_from_cache(cached, after, limit, order_of(order))
                if from_cache is not None:
                    return from_cache
            await self.flush(context)
        return await asyncio.to_thread(
            self._load_thread_items, thread_id, after, limit, order_of(order), context.user_id
        )

    def _load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: Order, user_id: str
    ) -> Page[ThreadItem]:
        if not is_safe_id(thread_id) or limit < 1:
            return Page(data=[], has_more=False, after=None)
        cursor = None
        if after is not None:
            cursor = self._rows.item_key(user_id, thread_id, after)
        rows = self._rows.query_items(user_id, thread_id, cursor, limit, order)
        items = [self._rows.item(r) for r in rows]
        return page(items, limit, lambda i: i.id)

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        # Every item write is an upsert: the agents bridge can save the same item twice.
        if item.type == "user_message":
            # Does not wait for a thread read left running by load_thread (the stream
            # settles it after this message's event): the message is remembered meanwhile.
            scope = scope_of(context)
            await self._record_user_message(thread_id, item, context)
        elif (scope := await settled_scope(context)) is not None and isinstance(
            item, HiddenContextItem | SDKHiddenContextItem
        ):
            # Never shown to the client: it rides along with the request's next write.
            require_safe(thread_id, item.id)
            scope.staged.append((thread_id, item))
        else:
            await self._write_items([(thread_id, item)], context)
        if scope is not None:
            remember_in_scope(scope, thread_id, item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        await self._write_items([(thread_id, item)], context)
        scope = await settled_scope(context)
        if scope is not None:
            remember_in_scope(scope, thread_id, item)

    async def _write_items(
        self, writes: list[tuple[str, ThreadItem]], context: RequestContext
    ) -> None:
        """Write items, plus whatever the request staged, in as few calls as possible.

        A write that fails leaves all it carried staged (items included), so the request's
        last flush tries it once more: a turn that fails on the table keeps what it can."""
        for thread_id, item in writes:
            require_safe(thread_id, item.id)
        scope = await settled_scope(context)
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
            self._rows.item_row(thread_id, item, user_id) for thread_id, item in writes
        ]
        rows += [
            self._rows.effects_row(t, m, record, user_id) for (t, m), record in effects.items()
        ]
        if len(rows) == 1:
            rows[0].save()
            return
        with TableRow.batch_write() as batch:
            for row in rows:
                batch.save(row)

    async def settle(self, context: RequestContext) -> None:
        """Finish the thread reads this request left running (see load_thread)."""
        await settled_scope(context)

    async def flush(self, context: RequestContext) -> None:
        """Write what the request staged; called before reads that go to the table and when
        the request ends."""
        scope = scope_of(context)
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
        scope = scope_of(context)
        cached = scope.threads.get(thread_id) if scope is not None else None
        new_thread = cached.metadata if cached is not None and cached.stored_json is None else None
        staged = scope.staged if scope is not None else []
        effects = scope.staged_effects if scope is not None else {}
        limiter = scope.turn_limiter if scope is not None else None
        write = asyncio.to_thread(
            write_opening,
            self._rows,
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

    def item_row(self, thread_id: str, item: ThreadItem, user_id: str) -> ItemRow:
        """The row an item is stored as (payload encoded, possibly offloaded); not yet saved."""
        return self._rows.item_row(thread_id, item, user_id)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        scope = await settled_scope(context)
        if scope is not None:
            cached = scope.threads.get(thread_id)
            for item in cached.newest if cached is not None else []:
                if item.id == item_id:
                    return request_copy(item)
            await self.flush(context)
        return await asyncio.to_thread(self._load_item, thread_id, item_id, context.user_id)

    def _load_item(self, thread_id: str, item_id: str, user_id: str) -> ThreadItem:
        sk = self._rows.item_key(user_id, thread_id, item_id)
        row = self._rows.get(ItemRow, user_id, sk, thread_id, item_id)
        return self._rows.item(row)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        sk: str | None = None
        scope = await settled_scope(context)
        if scope is not None:
            scope.staged = [s for s in scope.staged if (s[0], s[1].id) != (thread_id, item_id)]
            cached = scope.threads.get(thread_id)
            if cached is not None:
                for item in cached.newest:
                    if item.id == item_id:
                        sk = keys.item_sk(thread_id, item.created_at, item_id)
                cached.newest = [i for i in cached.newest if i.id != item_id]
        await asyncio.to_thread(self._rows.delete_item, thread_id, item_id, sk, context.user_id)

    # -- tool effects ---------------------------------------------------------------------
    async def load_effects(
        self, thread_id: str, message_id: str, context: RequestContext
    ) -> str | None:
        """One strongly consistent GetItem, or none at all: a message this request wrote has
        no record yet, and a record this request read or wrote is remembered."""
        key = (thread_id, message_id)
        scope = scope_of(context)
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
        return self._rows.decode(row).decode() if isinstance(row, EffectsRow) else None

    async def save_effects(
        self, thread_id: str, message_id: str, record: str, context: RequestContext
    ) -> None:
        """Within a request the record rides along with the request's next write (at the
        latest its last flush); outside one it is written at once."""
        require_safe(thread_id, message_id)
        scope = scope_of(context)
        if scope is None:
            await asyncio.to_thread(
                lambda: self._rows.effects_row(
                    thread_id, message_id, record, context.user_id
                ).save()
            )
            return
        scope.effects[(thread_id, message_id)] = record
        scope.staged_effects[(thread_id, message_id)] = record

    # -- attachments ----------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        await asyncio.to_thread(self._save_attachment, attachment, context.user_id)

    def _save_attachment(self, attachment: Attachment, user_id: str) -> None:
        self._rows.attachment_row(attachment, user_id).save()

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        return await asyncio.to_thread(self._load_attachment, attachment_id, context.user_id)

    def _load_attachment(self, attachment_id: str, user_id: str) -> Attachment:
        row = self._rows.get(
            AttachmentRow, user_id, keys.attachment_sk(attachment_id), attachment_id
        )
        return self._rows.attachment(row)

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
            save_feedback_rows, self._rows, thread_id, list(item_ids), feedback, context.user_id
        )

    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        return await asyncio.to_thread(load_feedback_rows, thread_id, context.user_id)
