"""ASGI middleware shared by both apps: request size limit, access logs and request metrics."""

from __future__ import annotations

import json
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_assistant.metrics import request_metrics
from todo_assistant.observability import logger


class _BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body parsing lets it through (it turns any other
    error while reading a body into a 400) and the app's handler answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body exceeds the limit of {max_bytes} bytes.")


class BodySizeLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": "request_too_large",
                "message": f"Request body exceeds the limit of {self.max_bytes} bytes.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """One structured line per request: method, path, status, time to headers and to end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        first_byte_ms: float | None = None
        request_id = _request_id(scope)
        # Shared with the app (request.state): the endpoint reads the id and may leave the
        # turn it started here, so this line can say how the turn ended.
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def logging_send(message: Message) -> None:
            nonlocal status, first_byte_ms
            if message["type"] == "http.response.start":
                status = message["status"]
                first_byte_ms = (time.perf_counter() - started) * 1000
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            fields: dict[str, object] = {
                "http_method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "headers_ms": round(first_byte_ms or 0.0, 1),
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "request_id": request_id,
            }
            # A streamed turn answers 200 before it can fail: say so here.
            turn_failed = getattr(state.get("turn"), "failure", None)
            if turn_failed is not None:
                fields["turn_failed"] = turn_failed
            logger.info("request", extra=fields)


def _request_id(scope: Scope) -> str:
    headers = dict(scope.get("headers", []))
    # Lambda's own request id arrives from the function URL / Web Adapter when present.
    for name in (b"x-amzn-request-id", b"x-amzn-trace-id", b"x-request-id"):
        value = headers.get(name)
        if value:
            return str(value.decode("latin-1"))[:128]
    return uuid.uuid4().hex


class RequestMetricsMiddleware:
    """Count sign-ins, refreshes, task API calls and 5xx answers; one EMF line per request.

    Under Mangum or the Web Adapter a function instance serves one request at a time, so
    flushing here, when the request ends, is the per-invocation flush `log_metrics` would do.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A request that raises out of the app is answered 500 by Starlette further out.
        status = 500

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, status_send)
        finally:
            request_metrics(str(scope.get("method")), str(scope.get("path")), status).flush()
