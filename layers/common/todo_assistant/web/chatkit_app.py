"""POST /chatkit: the ChatKit protocol endpoint (SSE for streaming requests, JSON otherwise).

The same app runs under uvicorn locally and under the Lambda Web Adapter in AWS (streamed
function URL); `functions/chatkit` also wraps it in Mangum for buffered `sam local invoke`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from chatkit.errors import ErrorCode
from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    ChatKitReq,
    ErrorEvent,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
)
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError

from todo_assistant.agent.providers import build_model
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import Settings, get_settings
from todo_assistant.context import RequestContext
from todo_assistant.observability import logger
from todo_assistant.runtime import build_client_secrets, build_store, build_task_service
from todo_assistant.server import TodoChatKitServer
from todo_assistant.web.auth import verified_user
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError, describe_validation_error

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)


@dataclass
class ChatKitDependencies:
    server: TodoChatKitServer
    secrets: ClientSecretService


def build_chatkit_dependencies(settings: Settings) -> ChatKitDependencies:
    tasks = build_task_service(settings)
    store = build_store(settings)
    agent = build_todo_agent(build_model(settings), tasks)
    server = TodoChatKitServer(store, agent, history_item_limit=settings.history_item_limit)
    return ChatKitDependencies(server=server, secrets=build_client_secrets(settings))


def sse_event(event: ErrorEvent) -> bytes:
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


def _client_error(error: Exception) -> ApiError:
    """Map what the SDK raises on bad input to a 4xx; anything else is ours (5xx)."""
    if isinstance(error, ValidationError):
        return ApiError(400, "invalid_request", describe_validation_error(error))
    if isinstance(error, NotFoundError):
        return ApiError(404, "not_found", "Thread, item or attachment not found.")
    if isinstance(error, NotImplementedError):
        return ApiError(400, "unsupported_request", "This request type is not supported here.")
    if isinstance(error, ValueError):
        return ApiError(400, "invalid_request", str(error))
    raise error


async def _check_attachments(
    request: ChatKitReq, server: TodoChatKitServer, user: RequestContext
) -> None:
    """Fail before anything is written when a message names attachments the user lacks."""
    if isinstance(request, ThreadsCreateReq | ThreadsAddUserMessageReq):
        for attachment_id in request.params.input.attachments:
            await server.store.load_attachment(attachment_id, user)


async def streaming_response(result: StreamingResult) -> Response:
    events = aiter(result)
    # Reading the first event before sending headers turns "thread not found" and other bad
    # input into a plain 4xx instead of a broken 200 stream.
    try:
        first: bytes | None = await anext(events)
    except StopAsyncIteration:
        first = None
    except Exception as error:
        raise _client_error(error) from None

    async def body() -> AsyncIterator[bytes]:
        if first is not None:
            yield first
        try:
            async for chunk in events:
                yield chunk
        except Exception:
            # The SDK already turned agent failures into error events; this is a store or
            # protocol failure after the stream started: tell the client instead of cutting it.
            logger.exception("chatkit stream failed")
            yield sse_event(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


def create_chatkit_app(
    settings: Settings | None = None, dependencies: ChatKitDependencies | None = None
) -> FastAPI:
    settings = settings or get_settings()
    deps = dependencies or build_chatkit_dependencies(settings)
    app = new_app("Todo assistant ChatKit", settings)
    app.state.deps = deps

    @app.post("/chatkit")
    async def chatkit_endpoint(request: Request) -> Response:
        user = verified_user(request, deps.secrets)
        if "json" not in request.headers.get("content-type", "application/json"):
            raise ApiError(415, "unsupported_media_type", "Send the ChatKit request as JSON.")
        body = await request.body()
        try:
            parsed = _REQUEST_ADAPTER.validate_json(body)
            await _check_attachments(parsed, deps.server, user)
            logger.info("chatkit request", extra={"op": parsed.type, "user_id": user.user_id})
            result = await deps.server.process(body, user)
        except Exception as error:
            raise _client_error(error) from None
        if isinstance(result, StreamingResult):
            return await streaming_response(result)
        return Response(result.json, media_type="application/json")

    return app
