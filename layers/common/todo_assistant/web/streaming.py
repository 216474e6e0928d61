"""A streamed ChatKit turn on the wire: SSE out of a queue, the turn itself in its own task.

The turn runs detached from its reader: a reader that leaves mid-answer does not abort it, it
finishes and is saved whole (which is also what happens in Lambda, where a streamed invocation
runs on after a disconnect). What may stop it early is its deadline, or a stop request from
the user (chat/stop.py), which it listens for only where it streams as it is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chatkit.errors import ErrorCode
from chatkit.server import StreamingResult
from chatkit.types import ErrorEvent
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from todo_assistant.chat.stop import StopSignal
from todo_assistant.metrics import TurnMetrics
from todo_assistant.observability import logger
from todo_assistant.web.chatkit_errors import CLIENT_ERRORS, client_error

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(event: ErrorEvent) -> bytes:
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


# How every ErrorEvent starts on the wire (its `type` field is serialized first); text the
# model or user wrote is a JSON string there, its quotes escaped, so it cannot match.
_ERROR_EVENT_PREFIX = b'data: {"type":"error"'
_THREAD_CREATED_PREFIX = b'data: {"type":"thread.created"'

# Turns that outlive their reader; referenced here so they are not garbage-collected.
_DETACHED_TURNS: set[asyncio.Task[None]] = set()


def _send(chunk: bytes, queue: asyncio.Queue[bytes | None], turn: TurnMetrics) -> None:
    if chunk.startswith(_ERROR_EVENT_PREFIX):
        turn.error()
    queue.put_nowait(chunk)


def streams_as_written(request: Request) -> bool:
    """False under Mangum (`sam local invoke`), which sends the whole response at the end: a
    reader there has nothing to stop, so the turn offers no Stop and reads no stop requests."""
    return "aws.event" not in request.scope


@asynccontextmanager
async def _listening(stop: StopSignal | None, deadline: asyncio.Timeout) -> AsyncIterator[None]:
    """While the turn streams, a task reads its stop request; a stop moves the deadline to
    now, so a stopped turn ends exactly as one that ran out of time."""
    if stop is None:
        yield
        return
    loop = asyncio.get_running_loop()

    def stop_now() -> None:
        if not deadline.expired():
            deadline.reschedule(loop.time())

    watcher = asyncio.create_task(stop.watch(stop_now))
    try:
        yield
    finally:
        watcher.cancel()
        (outcome,) = await asyncio.gather(watcher, return_exceptions=True)
        if isinstance(outcome, Exception):
            logger.error("stop watcher failed", exc_info=outcome)


async def _pump(
    events: AsyncIterator[bytes],
    queue: asyncio.Queue[bytes | None],
    turn: TurnMetrics,
    deadline: float | None = None,
    stop: StopSignal | None = None,
) -> None:
    try:
        # At the deadline the turn is cancelled the way ChatKit cancels a stream (what was
        # streamed is saved, plus a marker so the next turn does not continue it), and the
        # client is told to retry, before Lambda would end the invocation mid-write.
        async with asyncio.timeout_at(deadline) as timeout, _listening(stop, timeout):
            async for chunk in events:
                _send(chunk, queue, turn)
    except TimeoutError:
        if stop is not None and stop.stopped:
            # The user pressed Stop: the stream just ends, as ChatKit's own cancel does.
            logger.info("chatkit turn stopped by the user")
            turn.stopped()
            return
        logger.warning("chatkit turn reached its deadline")
        message = "The answer took too long and was stopped; try again."
        error = ErrorEvent(code="custom", message=message, allow_retry=True)
        _send(sse_event(error), queue, turn)
    except Exception:
        # The SDK already turned agent failures into error events; this is a store or
        # protocol failure after the stream started: tell the client instead of cutting it.
        logger.exception("chatkit stream failed")
        error = ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True)
        _send(sse_event(error), queue, turn)
    finally:
        queue.put_nowait(None)
        turn.stream_ended()


async def streaming_response(
    result: StreamingResult,
    turn: TurnMetrics,
    timeout_seconds: float | None = None,
    stop: StopSignal | None = None,
) -> Response:
    loop = asyncio.get_running_loop()
    deadline = None if timeout_seconds is None else loop.time() + timeout_seconds
    events = aiter(result)
    # Reading the first event before sending headers turns "thread not found" and other bad
    # input into a plain 4xx instead of a broken 200 stream.
    first: bytes | None = None
    try:
        first = chunk = await anext(events)
        if chunk.startswith(_THREAD_CREATED_PREFIX):
            # A new thread is written together with its first message: acknowledge neither
            # until that write has succeeded (the next event is the message, stored).
            first = chunk + await anext(events)
    except StopAsyncIteration:
        pass
    except Exception as error:
        if not isinstance(error, CLIENT_ERRORS):
            turn.error()
            turn.abandon()
        raise client_error(error) from None

    # The turn runs in its own task and the response only reads from a queue: a reader that
    # leaves mid-answer does not abort the turn, which finishes and is saved whole. That is
    # also what happens in Lambda, where a streamed invocation runs on after a disconnect.
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    if first is not None:
        turn.first_event()
        _send(first, queue, turn)
        task = asyncio.create_task(_pump(events, queue, turn, deadline, stop))
        _DETACHED_TURNS.add(task)
        task.add_done_callback(_DETACHED_TURNS.discard)
    else:
        queue.put_nowait(None)
        turn.stream_ended()

    async def body() -> AsyncIterator[bytes]:
        complete = False
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            complete = True
        finally:
            # Cancelled or closed before the end: the reader went away (seen locally; in
            # Lambda a streamed invocation does not notice).
            turn.response_ended(complete=complete)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)
