"""What one request has already read from, or still owes to, the table.

A ChatKit request touches the same thread several times: the SDK loads it, appends the user's
message, reads the newest items (twice: once for the model's history, once to resume an open
workflow), and saves the title. Without memory each of those is a round trip. The scope lets
the store answer repeated reads from what this request read or wrote itself, and hold back
writes nobody has seen yet (hidden context items) until the next write goes out anyway.

The same goes for the tool-effect record of a user message (`agent/effects.py`): a message this
request wrote has none yet (no read needed), and a changed record waits for the next write.

A scope lives exactly as long as one request (`TodoChatKitServer.process` makes a fresh one
with `scoped`); nothing here is shared between requests or users.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field, replace

from chatkit.types import Page, ThreadItem, ThreadMetadata

from todo_assistant.context import RequestContext
from todo_assistant.db.keys import sortable_time
from todo_assistant.store.base import TurnCounter
from todo_assistant.store.rows import Order, page


@dataclass
class CachedThread:
    metadata: ThreadMetadata
    # The metadata JSON as stored; None while a thread created by this request is unwritten.
    stored_json: str | None
    # The thread's newest items, newest first, as they are now (including this request's).
    newest: list[ThreadItem] = field(default_factory=list)
    # `newest` holds every item of the thread.
    complete: bool = False


@dataclass
class RequestScope:
    # The request runs the model: reading the thread also reads its recent history.
    turn: bool = False
    # Threads whose ids this request generated: saving one means creating it.
    created_threads: set[str] = field(default_factory=set)
    threads: dict[str, CachedThread] = field(default_factory=dict)
    # Hidden context items not yet written (never shown to the client, so never acknowledged).
    staged: list[tuple[str, ThreadItem]] = field(default_factory=list)
    # The turn's rate limit, counted by the write of the user's message (same transaction):
    # a refused turn writes nothing and costs no extra request.
    turn_limiter: TurnCounter | None = None
    # A new message for an existing thread: the thread's read (metadata and history) runs
    # while its message is written, instead of before (see `PendingThread`).
    overlap_opening: bool = False
    pending: dict[str, PendingThread] = field(default_factory=dict)

    # Tool-effect records by (thread id, user message id): as read or written by this request,
    # None when there is none (a message this request wrote has none yet).
    effects: dict[tuple[str, str], str | None] = field(default_factory=dict)
    # Records not yet written: they ride along with the next write, like `staged`.
    staged_effects: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class PendingThread:
    """A thread whose read is still under way: the metadata handed out is filled in place
    when the read completes, which is before anything of the request uses more than its id
    (the store settles before every other call; the server's stream before its second event)."""

    read: asyncio.Task[CachedThread]
    handed_out: ThreadMetadata
    # Items this request wrote to the thread meanwhile (the user's message).
    written: list[ThreadItem] = field(default_factory=list)


def scoped(
    context: RequestContext,
    *,
    turn: bool,
    turn_limiter: TurnCounter | None = None,
    overlap_opening: bool = False,
) -> RequestContext:
    """The same user, with a fresh scope for one request (`turn_limiter`: counted by the write
    of the request's user message; `overlap_opening`: read the thread while that message is
    written)."""
    scope = RequestScope(turn=turn, turn_limiter=turn_limiter, overlap_opening=overlap_opening)
    return replace(context, scope=scope)


def scope_of(context: RequestContext) -> RequestScope | None:
    return context.scope if isinstance(context.scope, RequestScope) else None


async def settle(scope: RequestScope) -> None:
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
            remember(cached, item)


async def settled_scope(context: RequestContext) -> RequestScope | None:
    scope = scope_of(context)
    if scope is not None:
        await settle(scope)
    return scope


def remember_in_scope(scope: RequestScope, thread_id: str, item: ThreadItem) -> None:
    if thread_id in scope.threads:
        remember(scope.threads[thread_id], item)
    elif thread_id in scope.pending:
        scope.pending[thread_id].written.append(item)


def remember(cached: CachedThread, item: ThreadItem) -> None:
    """Keep a request's view of a thread's newest items true after it wrote `item`."""
    for index, known in enumerate(cached.newest):
        if known.id == item.id:
            cached.newest[index] = item
            return
    cached.newest.insert(0, item)
    cached.newest.sort(key=lambda i: (sortable_time(i.created_at), i.id), reverse=True)


def page_from_cache(
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
    return page([request_copy(i) for i in window], limit, lambda i: i.id)


def request_copy(item: ThreadItem) -> ThreadItem:
    """An item from the request's own view of its thread, for a caller of the same request.

    A shallow copy: a caller may set an item's fields (the SDK does, before saving it) without
    changing the request's view; nested values (content, widget trees) are shared and read
    only. A deep copy of a turn's history, half of it task widgets, costs milliseconds per
    read (0.3 ms a card); the view lives only as long as the request.
    """
    return item.model_copy()
