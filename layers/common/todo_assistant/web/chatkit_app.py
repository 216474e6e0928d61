"""POST /chatkit: the ChatKit protocol endpoint (SSE for streaming requests, JSON otherwise).

The same app runs under uvicorn locally and under the Lambda Web Adapter in AWS (streamed
function URL); `functions/chatkit` also wraps it in Mangum for buffered `sam local invoke`.
It receives its dependencies (wiring/chatkit.py builds them) and builds none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from chatkit.server import StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import is_streaming_req
from fastapi import FastAPI, Request, Response

from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.chat.admission import read_request
from todo_assistant.chat.server import TodoChatKitServer
from todo_assistant.chat.stop import StopSignal
from todo_assistant.config import Settings
from todo_assistant.metrics import start_turn
from todo_assistant.observability import logger
from todo_assistant.store.stop_requests import StopRequests
from todo_assistant.web.auth import verified_user
from todo_assistant.web.cancel import install_cancel_route
from todo_assistant.web.chatkit_errors import client_error
from todo_assistant.web.common import new_app
from todo_assistant.web.errors import ApiError
from todo_assistant.web.snapstart import install_adapter_routes
from todo_assistant.web.streaming import streaming_response, streams_as_written


@dataclass
class ChatKitDependencies:
    server: TodoChatKitServer
    secrets: ClientSecretService
    # Where Stop requests are written and read (POST /chatkit/cancel, chat/stop.py).
    stops: StopRequests = field(default_factory=StopRequests)


class _DropClientNotFound(logging.Filter):
    """The ChatKit SDK logs a missing thread/item as an error with a traceback; for us it is a
    client's 404 (answered as such), not an operator's alarm."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, NotFoundError)


logging.getLogger("chatkit").addFilter(_DropClientNotFound())


def create_chatkit_app(settings: Settings, deps: ChatKitDependencies) -> FastAPI:
    app = new_app("Todo assistant ChatKit", settings)
    app.state.deps = deps
    install_adapter_routes(app)
    install_cancel_route(app, deps.secrets, deps.stops)

    @app.post("/chatkit")
    async def chatkit_endpoint(request: Request) -> Response:
        user = verified_user(request, deps.secrets)
        if "json" not in request.headers.get("content-type", "application/json"):
            raise ApiError(415, "unsupported_media_type", "Send the ChatKit request as JSON.")
        body = await request.body()
        try:
            parsed, user = read_request(body, user)
            logger.info("chatkit request", extra={"op": parsed.type, "user_id": user.user_id})
            # Set before the SDK starts the turn, so the agent run's task inherits it.
            turn = start_turn(deps.server.tool_names, getattr(request.state, "request_id", None))
            request.state.turn = turn
            stop = None
            if is_streaming_req(parsed) and streams_as_written(request):
                stop = StopSignal(deps.stops, user.user_id, settings.stop_check_seconds)
            result = await deps.server.process(parsed, user, stop=stop)
        except Exception as error:
            raise client_error(error) from None
        if isinstance(result, StreamingResult):
            return await streaming_response(result, turn, settings.turn_deadline_seconds, stop)
        return Response(result.json, media_type="application/json")

    return app
