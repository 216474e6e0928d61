"""A running turn listens for Stop: it reads its thread's stop request (store/stop_requests.py)
while it streams and before each tool call, and stops once a request newer than itself exists.

Each read is one strongly consistent GetItem. Nothing is read in the turn's first `interval`
(STOP_CHECK_SECONDS, 0.5 s by default), so a turn shorter than that reads nothing. Then the
stream reads at most once per `interval` (2 reads a second by default), and each tool call
reads once more just before it starts: past its first `interval`, a turn starts no tool once
a stop request for it exists.

How a turn stops: `on_stop`, set by the turn's stream (web/streaming.py), brings the turn's
deadline forward to now, so it ends the way ChatKit ends a cancelled stream: what was streamed
of the answer is saved with the SDK's hidden note that the user stopped it, and the agent run
is cancelled (no further model or tool call).

One `StopSignal` per streamed turn: the endpoint makes it, the server hands it to the turn in
its request context (`RequestContext.stop`): the turn names its thread (`listen_to`), the
tool hooks ask it before each tool (`before_tool`), the stream watches it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from todo_assistant.observability import logger
from todo_assistant.store.stop_requests import StopRequests

# How long a tool start seen as stopped waits for the run's cancellation before it gives up
# on that and fails the run instead (it never returns, so the tool never starts).
_RUN_CANCEL_GRACE_SECONDS = 5.0


class TurnStopped(Exception):
    """The user stopped the turn at a tool start, and the run was not cancelled in time."""


@dataclass(eq=False)
class StopSignal:
    """One turn's view of its thread's stop request."""

    requests: StopRequests
    user_id: str
    interval: float
    # Wall clock when the turn's request arrived: a stop requested before it is not for it.
    started_at: float = field(default_factory=time.time)
    # Known once the turn's stream starts (a new thread's id is made by the turn itself).
    thread_id: str | None = None
    stopped: bool = False
    reads: int = 0
    on_stop: Callable[[], None] | None = None
    clock: Callable[[], float] = time.monotonic
    _started: float = field(init=False)
    _last_read: float = field(init=False)

    def __post_init__(self) -> None:
        self._started = self._last_read = self.clock()

    async def check(self, *, before_tool: bool = False) -> bool:
        """Whether the user stopped the turn. Reads the table once the turn is `interval` old:
        before a tool, always; otherwise only if `interval` passed since the last read. A
        failed read does not stop the turn."""
        if self.stopped:
            return True
        now = self.clock()
        since = self._started if before_tool else self._last_read
        if now - since < self.interval:
            return False
        # Claimed before the read, so the watcher does not read again meanwhile.
        self._last_read = now
        if self.thread_id is None:
            return False
        self.reads += 1
        try:
            requested = await self.requests.requested_at(self.user_id, self.thread_id)
        except Exception as error:
            logger.warning(
                "stop request could not be read; the turn goes on",
                extra={"error_type": type(error).__name__},
            )
            return False
        if requested is not None and requested >= self.started_at and not self.stopped:
            self.stopped = True
            if self.on_stop is not None:
                self.on_stop()
        return self.stopped

    def listen_to(self, thread_id: str) -> None:
        """The turn's thread, once known (a new thread's id is made by the turn itself)."""
        self.thread_id = thread_id

    async def before_tool(self) -> None:
        """Called as a tool starts: a turn the user stopped runs no further tool."""
        if not await self.check(before_tool=True):
            return
        # The turn's stream is being cancelled (`on_stop`), and with it this run: this waits
        # to be cancelled with it rather than let the tool start.
        await asyncio.sleep(_RUN_CANCEL_GRACE_SECONDS)
        raise TurnStopped("the user stopped this turn")

    async def watch(self, on_stop: Callable[[], None]) -> None:
        """Read the stop request every `interval` until the turn is stopped (or this task is
        cancelled, when the turn ends)."""
        self.on_stop = on_stop
        # Polling, not waiting on an event: the request is a row another instance may write.
        while True:
            await asyncio.sleep(max(self._last_read + self.interval - self.clock(), 0.0))
            if await self.check():
                return
