"""The store contract in memory: the baseline the DynamoDB store is measured against.

Same ids (time-sortable, same prefixes), same ordering (created_at, then id), same pagination
(`after` exclusive, `limit + 1` read gives `has_more`), same isolation by user. Values are
copied in and out, as a database would, so no caller can mutate what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from chatkit.store import NotFoundError
from chatkit.types import Attachment, FeedbackKind, Page, ThreadItem, ThreadMetadata

from todo_assistant.context import RequestContext
from todo_assistant.db.keys import sortable_time
from todo_assistant.limits import RateLimiter
from todo_assistant.store.base import TodoStore
from todo_assistant.store.request_scope import RequestScope

type ThreadKey = tuple[str, str]  # (user id, thread id)


def _order_key(created_at: datetime, ident: str) -> tuple[str, str]:
    # The DynamoDB store's sort key: fixed-width UTC time, then the id to break ties.
    return (sortable_time(created_at), ident)


def _paginate[T](
    rows: Iterable[T],
    key: Callable[[T], tuple[str, str]],
    after: str | None,
    limit: int,
    order: str,
) -> Page[T]:
    ordered = sorted(rows, key=key, reverse=order == "desc")
    start = 0
    if after is not None:
        ids = [key(row)[1] for row in ordered]
        if after not in ids:
            raise NotFoundError(f"{after} not found")
        start = ids.index(after) + 1
    window = ordered[start : start + limit + 1]
    has_more = len(window) > limit
    data = window[:limit]
    return Page(data=data, has_more=has_more, after=key(data[-1])[1] if has_more else None)


class MemoryChatKitStore(TodoStore):
    def __init__(self) -> None:
        self._threads: dict[str, dict[str, ThreadMetadata]] = {}
        self._items: dict[ThreadKey, dict[str, ThreadItem]] = {}
        self._attachments: dict[str, dict[str, Attachment]] = {}
        self._feedback: dict[ThreadKey, dict[str, str]] = {}
        self._effects: dict[ThreadKey, dict[str, str]] = {}

    # -- threads --------------------------------------------------------------------------
    async def load_thread(self, thread_id: str, context: RequestContext) -> ThreadMetadata:
        thread = self._threads.get(context.user_id, {}).get(thread_id)
        if thread is None:
            raise NotFoundError(f"{thread_id} not found")
        return thread.model_copy(deep=True)

    async def save_thread(self, thread: ThreadMetadata, context: RequestContext) -> None:
        # The SDK sometimes passes a full `Thread`; only its metadata is kept.
        metadata = ThreadMetadata.model_validate(thread.model_dump(exclude={"items"}))
        self._threads.setdefault(context.user_id, {})[thread.id] = metadata

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: RequestContext
    ) -> Page[ThreadMetadata]:
        threads = self._threads.get(context.user_id, {}).values()
        page = _paginate(threads, lambda t: _order_key(t.created_at, t.id), after, limit, order)
        page.data = [t.model_copy(deep=True) for t in page.data]
        return page

    async def delete_thread(self, thread_id: str, context: RequestContext) -> None:
        key = (context.user_id, thread_id)
        self._threads.get(context.user_id, {}).pop(thread_id, None)
        self._items.pop(key, None)
        self._feedback.pop(key, None)
        self._effects.pop(key, None)

    # -- items ----------------------------------------------------------------------------
    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: RequestContext,
    ) -> Page[ThreadItem]:
        items = self._items.get((context.user_id, thread_id), {}).values()
        page = _paginate(items, lambda i: _order_key(i.created_at, i.id), after, limit, order)
        page.data = [i.model_copy(deep=True) for i in page.data]
        return page

    async def add_thread_item(
        self, thread_id: str, item: ThreadItem, context: RequestContext
    ) -> None:
        # An upsert, like the DynamoDB store: the agents bridge may save an item twice.
        scope = context.scope
        limiter = scope.turn_limiter if isinstance(scope, RequestScope) else None
        if (
            item.type == "user_message"
            and isinstance(scope, RequestScope)
            and isinstance(limiter, RateLimiter)
        ):
            # The turn's count stays a DynamoDB row here, as it was before the DynamoDB store
            # folded it into the message's write: the baseline keeps one table call per turn,
            # so the ratios stay comparable with earlier runs.
            await limiter.check(context.user_id)
            scope.turn_limiter = None
        await self.save_item(thread_id, item, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: RequestContext) -> None:
        items = self._items.setdefault((context.user_id, thread_id), {})
        items[item.id] = item.model_copy(deep=True)

    async def load_item(self, thread_id: str, item_id: str, context: RequestContext) -> ThreadItem:
        item = self._items.get((context.user_id, thread_id), {}).get(item_id)
        if item is None:
            raise NotFoundError(f"{item_id} not found")
        return item.model_copy(deep=True)

    async def delete_thread_item(
        self, thread_id: str, item_id: str, context: RequestContext
    ) -> None:
        self._items.get((context.user_id, thread_id), {}).pop(item_id, None)

    # -- attachments ----------------------------------------------------------------------
    async def save_attachment(self, attachment: Attachment, context: RequestContext) -> None:
        self._attachments.setdefault(context.user_id, {})[attachment.id] = attachment.model_copy(
            deep=True
        )

    async def load_attachment(self, attachment_id: str, context: RequestContext) -> Attachment:
        attachment = self._attachments.get(context.user_id, {}).get(attachment_id)
        if attachment is None:
            raise NotFoundError(f"{attachment_id} not found")
        return attachment.model_copy(deep=True)

    async def delete_attachment(self, attachment_id: str, context: RequestContext) -> None:
        self._attachments.get(context.user_id, {}).pop(attachment_id, None)

    # -- feedback -------------------------------------------------------------------------
    async def save_feedback(
        self,
        thread_id: str,
        item_ids: Iterable[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> int:
        """Record feedback on the user's own items; returns how many items it applied to."""
        await self.load_thread(thread_id, context)
        key = (context.user_id, thread_id)
        items = self._items.get(key, {})
        applied = [item_id for item_id in item_ids if item_id in items]
        self._feedback.setdefault(key, {}).update(dict.fromkeys(applied, str(feedback)))
        return len(applied)

    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        return dict(self._feedback.get((context.user_id, thread_id), {}))

    # -- tool effects ---------------------------------------------------------------------
    async def load_effects(
        self, thread_id: str, message_id: str, context: RequestContext
    ) -> str | None:
        return self._effects.get((context.user_id, thread_id), {}).get(message_id)

    async def save_effects(
        self, thread_id: str, message_id: str, record: str, context: RequestContext
    ) -> None:
        self._effects.setdefault((context.user_id, thread_id), {})[message_id] = record
