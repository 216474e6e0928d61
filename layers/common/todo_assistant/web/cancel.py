"""POST /chatkit/cancel: ChatKit's Stop, as an explicit request.

A streamed turn runs on when its reader leaves (web/streaming.py; in Lambda the function never
sees that anyway), so stopping it takes a request of its own: the front end's fetch wrapper
sends this one when ChatKit aborts a streaming request (docs/chatkit.md, "Stop").

Body `{"thread_id": "..."}`, with the same client secret as `/chatkit`.
- 202: the thread's running turn stops within about STOP_CHECK_SECONDS, keeping what it had
  written. With no turn running nothing happens, and no later turn is affected.
- 404: the caller has no such thread (another user's thread included); nothing is written.
"""

from __future__ import annotations

from chatkit.store import NotFoundError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.observability import logger
from todo_assistant.store.stop_requests import StopRequests
from todo_assistant.web.auth import verified_user
from todo_assistant.web.errors import ApiError, describe_validation_error


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any string: one that is no id of the caller's threads is simply not found (404).
    thread_id: str


def install_cancel_route(app: FastAPI, secrets: ClientSecretService, stops: StopRequests) -> None:
    @app.post("/chatkit/cancel")
    async def cancel_turn(request: Request) -> JSONResponse:
        user = verified_user(request, secrets)
        if "json" not in request.headers.get("content-type", "application/json"):
            raise ApiError(415, "unsupported_media_type", "Send the cancel request as JSON.")
        try:
            body = CancelRequest.model_validate_json(await request.body())
        except ValidationError as error:
            raise ApiError(400, "invalid_request", describe_validation_error(error)) from None
        try:
            await stops.request(user.user_id, body.thread_id)
        except NotFoundError:
            raise ApiError(404, "not_found", "Thread not found.") from None
        logger.info("chatkit stop requested", extra={"user_id": user.user_id})
        return JSONResponse(
            {"thread_id": body.thread_id, "status": "stop_requested"}, status_code=202
        )
