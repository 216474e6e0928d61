"""What one request has already read from, or still owes to, the table.

A ChatKit request touches the same thread several times: the SDK loads it, appends the user's
message, reads the newest items (twice: once for the model's history, once to resume an open
workflow), and saves the title. Without memory each of those is a round trip. The scope lets
the store answer repeated reads from what this request read or wrote itself, and hold back
writes nobody has seen yet (hidden context items) until the next write goes out anyway.

The same goes for the tool-effect record of a user message (`agent/effects.py`): a message this
request wrote has none yet (no read needed), and a changed record waits for the next write.

A scope lives exactly as long as one request (`TodoChatKitServer.process` makes a fresh one);
nothing here is shared between requests or users.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chatkit.types import ThreadItem, ThreadMetadata

if TYPE_CHECKING:
    from todo_assistant.limits import RateLimiter


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
    turn_limiter: RateLimiter | None = None
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
