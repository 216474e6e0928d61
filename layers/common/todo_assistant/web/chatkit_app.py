"""POST /chatkit: the ChatKit protocol endpoint (SSE for streaming requests, JSON otherwise).

The same app runs under uvicorn locally and under the Lambda Web Adapter in AWS (streamed
function URL); `functions/chatkit` also wraps it in Mangum for buffered `sam local invoke`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from chatkit.errors import ErrorCode
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ErrorEvent,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsDeleteReq,
)
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError

from todo_assistant.actions import ActionRejected
from todo_assistant.agent.client_tools import check_client_tool_output
from todo_assistant.agent.model_choice import ModelChoices
from todo_assistant.agent.page_context import page_context_from_body
from todo_assistant.agent.providers import build_model
from todo_assistant.agent.request_settings import request_settings
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import Settings, get_settings
from todo_assistant.context import RequestContext
from todo_assistant.limits import RateLimiter
from todo_assistant.metrics import TurnMetrics, start_turn
from todo_assistant.observability import logger
from todo_assistant.runtime import (
    build_attachment_store,
    build_client_secrets,
    build_store,
    build_task_service,
)
from todo_assistant.server import TodoChatKitServer
from todo_assistant.web.auth import verified_user
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError, describe_validation_error
from todo_assistant.web.snapstart import install_adapter_routes
from todo_assistant.web.turn_guard import guard_turn


class _DropClientNotFound(logging.Filter):
    """The ChatKit SDK logs a missing thread/item as an error with a traceback; for us it is a
    client's 404 (answered as such), not an operator's alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, NotFoundError)


logging.getLogger("chatkit").addFilter(_DropClientNotFound())


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)


@dataclass
class ChatKitDependencies:
    server: TodoChatKitServer
    secrets: ClientSecretService


def build_chatkit_dependencies(settings: Settings) -> ChatKitDependencies:
    tasks = build_task_service(settings)
    store = build_store(settings)
    agent = build_todo_agent(
        build_model(settings), tasks, max_output_tokens=settings.max_output_tokens
    )
    models = ModelChoices(
        settings.default_model,
        settings.allowed_model_ids,
        lambda model_id: build_model(settings, model_id),
    )
    server = TodoChatKitServer(
        store,
        agent,
        history_item_limit=settings.history_item_limit,
        history_token_budget=settings.history_token_budget,
        tasks=tasks,
        attachments=build_attachment_store(settings, store),
        models=models,
        request_settings=request_settings(settings),
        max_tool_calls_per_turn=settings.max_tool_calls_per_turn,
    )
    return ChatKitDependencies(server=server, secrets=build_client_secrets(settings))


def sse_event(event: ErrorEvent) -> bytes:
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


# What `_client_error` answers with a 4xx: the client's mistake, not a failed turn.
_CLIENT_ERRORS = (ValidationError, NotFoundError, NotImplementedError, ValueError, ActionRejected)
# How every ErrorEvent starts on the wire (its `type` field is serialized first); text the
# model or user wrote is a JSON string there, its quotes escaped, so it cannot match.
_ERROR_EVENT_PREFIX = b'data: {"type":"error"'
_THREAD_CREATED_PREFIX = b'data: {"type":"thread.created"'


def _client_error(error: Exception) -> ApiError:
    """Map what the SDK raises on bad input to a 4xx; anything else is ours (a JSON 500)."""
    if isinstance(error, ValidationError):
        return ApiError(400, "invalid_request", describe_validation_error(error))
    if isinstance(error, ActionRejected):
        return ApiError(error.status, error.code, error.message)
    if isinstance(error, NotFoundError):
        return ApiError(404, "not_found", "Thread, item or attachment not found.")
    if isinstance(error, NotImplementedError):
        return ApiError(400, "unsupported_request", "This request type is not supported here.")
    if isinstance(error, ValueError):
        return ApiError(400, "invalid_request", str(error))
    if isinstance(error, ApiError):
        return error
    # Answered here rather than by the catch-all handler: Starlette re-raises what reaches that
    # one, and uvicorn then closes the connection, which the Web Adapter (or any keep-alive
    # client) finds broken on its next request.
    logger.exception("chatkit request failed")
    return ApiError(500, "internal_error", "Something went wrong on our side.")


async def _check_attachments(
    request: ChatKitReq, server: TodoChatKitServer, user: RequestContext
) -> None:
    """Fail before anything is written when a message names attachments the user lacks (or
    whose uploaded bytes are missing, too large or of another type), or a model or composer
    tool that is not offered. A deleted thread's files go just before the thread."""
    if server.attachment_store is None and isinstance(
        request, AttachmentsCreateReq | AttachmentsDeleteReq
    ):
        # The SDK would raise a RuntimeError (a 500); without a store this is unsupported.
        raise NotImplementedError("attachments are not enabled")
    if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        if server.models is not None:
            server.models.check(request.params.input.inference_options, server.tool_names)
        for attachment_id in request.params.input.attachments:
            attachment = await server.store.load_attachment(attachment_id, user)
            if server.attachments is not None:
                # The bytes as uploaded: present, within the cap, of the declared type.
                await server.attachments.check_uploaded(attachment, user)
    if isinstance(request, ThreadsDeleteReq) and server.attachments is not None:
        # The thread's rows go next; its files (found through its messages) go first.
        await server.attachments.delete_thread_attachments(request.params.thread_id, user)


# Turns that outlive their reader; referenced here so they are not garbage-collected.
_DETACHED_TURNS: set[asyncio.Task[None]] = set()


def _send(chunk: bytes, queue: asyncio.Queue[bytes | None], turn: TurnMetrics) -> None:
    if chunk.startswith(_ERROR_EVENT_PREFIX):
        turn.error()
    queue.put_nowait(chunk)


async def _pump(
    events: AsyncIterator[bytes],
    queue: asyncio.Queue[bytes | None],
    turn: TurnMetrics,
    deadline: float | None = None,
) -> None:
    try:
        # At the deadline the turn is cancelled the way ChatKit cancels a stream (what was
        # streamed is saved, plus a marker so the next turn does not continue it), and the
        # client is told to retry, before Lambda would end the invocation mid-write.
        async with asyncio.timeout_at(deadline):
            async for chunk in events:
                _send(chunk, queue, turn)
    except TimeoutError:
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
    result: StreamingResult, turn: TurnMetrics, timeout_seconds: float | None = None
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
        if not isinstance(error, _CLIENT_ERRORS):
            turn.error()
            turn.abandon()
        raise _client_error(error) from None

    # The turn runs in its own task and the response only reads from a queue: a reader that
    # leaves mid-answer does not abort the turn, which finishes and is saved whole. That is
    # also what happens in Lambda, where a streamed invocation runs on after a disconnect.
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    if first is not None:
        turn.first_event()
        _send(first, queue, turn)
        task = asyncio.create_task(_pump(events, queue, turn, deadline))
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


def create_chatkit_app(
    settings: Settings | None = None, dependencies: ChatKitDependencies | None = None
) -> FastAPI:
    settings = settings or get_settings()
    deps = dependencies or build_chatkit_dependencies(settings)
    app = new_app("Todo assistant ChatKit", settings)
    app.state.deps = deps
    install_adapter_routes(app, settings)
    turn_limiter = RateLimiter.for_turns(settings)

    @app.post("/chatkit")
    async def chatkit_endpoint(request: Request) -> Response:
        user = verified_user(request, deps.secrets)
        if "json" not in request.headers.get("content-type", "application/json"):
            raise ApiError(415, "unsupported_media_type", "Send the ChatKit request as JSON.")
        body = await request.body()
        try:
            parsed = _REQUEST_ADAPTER.validate_json(body)
            if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
                # ChatKit's input type has no `metadata`: the page context is read from the body.
                user = dataclasses.replace(user, page_context=page_context_from_body(body))
            await _check_attachments(parsed, deps.server, user)
            await check_client_tool_output(parsed, deps.server.store, user)
            await guard_turn(parsed, user, turn_limiter, settings.max_message_chars)
            logger.info("chatkit request", extra={"op": parsed.type, "user_id": user.user_id})
            # Set before the SDK starts the turn, so the agent run's task inherits it.
            turn = start_turn(deps.server.tool_names, getattr(request.state, "request_id", None))
            request.state.turn = turn
            result = await deps.server.process(parsed, user)
        except Exception as error:
            raise _client_error(error) from None
        if isinstance(result, StreamingResult):
            return await streaming_response(result, turn, settings.turn_deadline_seconds)
        return Response(result.json, media_type="application/json")

    return app
