"""POST /chatkit: the ChatKit protocol endpoint (SSE for streaming requests, JSON otherwise).

The same app runs under uvicorn locally and under the Lambda Web Adapter in AWS (streamed
function URL); `functions/chatkit` also wraps it in Mangum for buffered `sam local invoke`.
"""

from __future__ import annotations

import dataclasses
import logging

from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsDeleteReq,
    is_streaming_req,
)
from fastapi import FastAPI, Request, Response

from todo_assistant.agent.client_tools import check_client_tool_output
from todo_assistant.agent.page_context import page_context_from_body
from todo_assistant.agent.stop import listen_for_stop
from todo_assistant.chatkit_runtime import ChatKitDependencies, build_chatkit_dependencies
from todo_assistant.config import Settings, get_settings
from todo_assistant.context import RequestContext
from todo_assistant.metrics import start_turn
from todo_assistant.observability import logger
from todo_assistant.server import TodoChatKitServer, parse_request
from todo_assistant.web.auth import verified_user
from todo_assistant.web.cancel import install_cancel_route
from todo_assistant.web.chatkit_errors import client_error
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError
from todo_assistant.web.snapstart import install_adapter_routes
from todo_assistant.web.streaming import streaming_response, streams_as_written
from todo_assistant.web.turn_guard import check_message_length


class _DropClientNotFound(logging.Filter):
    """The ChatKit SDK logs a missing thread/item as an error with a traceback; for us it is a
    client's 404 (answered as such), not an operator's alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, NotFoundError)


logging.getLogger("chatkit").addFilter(_DropClientNotFound())


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


def create_chatkit_app(
    settings: Settings | None = None, dependencies: ChatKitDependencies | None = None
) -> FastAPI:
    settings = settings or get_settings()
    deps = dependencies or build_chatkit_dependencies(settings)
    app = new_app("Todo assistant ChatKit", settings)
    app.state.deps = deps
    install_adapter_routes(app, settings)
    install_cancel_route(app, deps.secrets, deps.stops)

    @app.post("/chatkit")
    async def chatkit_endpoint(request: Request) -> Response:
        user = verified_user(request, deps.secrets)
        if "json" not in request.headers.get("content-type", "application/json"):
            raise ApiError(415, "unsupported_media_type", "Send the ChatKit request as JSON.")
        body = await request.body()
        try:
            parsed = parse_request(body)
            if isinstance(parsed, ThreadsCreateReq | ThreadsAddUserMessageReq):
                # ChatKit's input type has no `metadata`: the page context is read from the body.
                user = dataclasses.replace(user, page_context=page_context_from_body(body))
            await _check_attachments(parsed, deps.server, user)
            await check_client_tool_output(parsed, deps.server.store, user)
            check_message_length(parsed, settings.max_message_chars)
            logger.info("chatkit request", extra={"op": parsed.type, "user_id": user.user_id})
            # Set before the SDK starts the turn, so the agent run's task inherits it.
            turn = start_turn(deps.server.tool_names, getattr(request.state, "request_id", None))
            request.state.turn = turn
            stop = None
            if is_streaming_req(parsed) and streams_as_written(request):
                stop = listen_for_stop(deps.stops, user.user_id, settings.stop_check_seconds)
            result = await deps.server.process(parsed, user)
        except Exception as error:
            raise client_error(error) from None
        if isinstance(result, StreamingResult):
            return await streaming_response(result, turn, settings.turn_deadline_seconds, stop)
        return Response(result.json, media_type="application/json")

    return app
