"""A fake OpenAI server: streams like the real API, follows a per-test script.

POST /v1/responses answers with the Responses API's server-sent events (`response.created`,
`response.output_item.added`, `response.output_text.delta`,
`response.function_call_arguments.delta`, ..., `response.completed` with usage); POST
/v1/chat/completions with `chat.completion.chunk`s (content deltas, tool-call argument deltas,
a usage chunk, `data: [DONE]`). Every event is validated against the `openai` package's own
pydantic types (`ResponseStreamEvent`, `ChatCompletionChunk`) before it is sent.

Each request takes the next planned reply from the script: `Say` (text), `Call` (one tool
call), `Fail` (an HTTP error with the API's error body and headers), `DropAfter` (some text,
then the connection is cut) or `Stall` (no answer for a while: a client timeout). The requests
are recorded for assertions (path, JSON body, headers).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, get_args

from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from todo_assistant_dev.live_server import live_server

# Each event type's own model in the openai package (the union's members, by `type`).
_EVENT_MODELS: dict[str, type[BaseModel]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in get_args(get_args(ResponseStreamEvent)[0])
}


@dataclass(frozen=True)
class Say:
    text: str
    deltas: int = 3


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    status: int
    message: str = "upstream failure details that must not reach the user"
    error_type: str = "server_error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DropAfter:
    """Stream this text, then cut the connection without the terminal event.

    With a `gate`, the cut waits until the test opens it (say, once its client has seen the
    text): the Agents SDK drops model events still queued when a run fails, so without it
    how much of the text reaches the client would depend on timing.
    """

    text: str
    gate: threading.Event | None = field(default=None, compare=False)
    deltas: int = 2


@dataclass(frozen=True)
class Stall:
    seconds: float


Plan = Say | Call | Fail | DropAfter | Stall


class DroppedConnection(Exception):
    """Raised inside the fake's response body to cut the connection on purpose."""


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


async def _wait(gate: threading.Event | None) -> None:
    if gate is not None and not await asyncio.to_thread(gate.wait, 20):
        raise AssertionError("fake: the test never opened the gate")


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class FakeOpenAI:
    def __init__(self) -> None:
        self.plans: deque[Plan] = deque()
        self.requests: list[RecordedRequest] = []
        self.emitted = 0
        self.base_url = ""
        self._ids = itertools.count(1)
        self._response_id = ""

    def script(self, *plans: Plan) -> None:
        self.plans.extend(plans)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    # --- the app ----------------------------------------------------------------------
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
            ]
        )

    async def _next_plan(self, request: Request) -> tuple[dict[str, Any], Plan | Response]:
        body = await request.json()
        self.requests.append(RecordedRequest(request.url.path, body, dict(request.headers)))
        if not self.plans:
            return body, JSONResponse(
                {"error": {"message": "fake: no reply scripted", "type": "test_error"}},
                status_code=599,
            )
        plan = self.plans.popleft()
        if isinstance(plan, Stall):
            await asyncio.sleep(plan.seconds)
            return body, JSONResponse({"error": {"message": "stalled"}}, status_code=599)
        if isinstance(plan, Fail):
            error = {"message": plan.message, "type": plan.error_type, "param": None, "code": None}
            headers = {"x-request-id": self._id("req"), **plan.headers}
            return body, JSONResponse({"error": error}, status_code=plan.status, headers=headers)
        return body, plan

    def _sse(self, chunks: AsyncIterator[bytes]) -> StreamingResponse:
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"x-request-id": self._id("req")}
        )

    # --- Responses API ------------------------------------------------------------------
    async def _responses(self, request: Request) -> Response:
        body, plan = await self._next_plan(request)
        if isinstance(plan, Response):
            return plan
        return self._sse(self._response_events(body, plan))

    def _event(self, event: dict[str, Any]) -> bytes:
        event["sequence_number"] = self.emitted
        self.emitted += 1
        # Exactly the shapes the openai client knows (raises on any missing or wrong field).
        _EVENT_MODELS[event["type"]].model_validate(event)
        return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    def _response(self, body: dict[str, Any], status: str, output: list[Any]) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": self._response_id,
            "object": "response",
            "created_at": time.time(),
            "status": status,
            "model": body.get("model", "gpt-test"),
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "temperature": 1.0,
            "top_p": 1.0,
            "store": body.get("store", True),
        }
        if status == "completed":
            response["usage"] = {
                "input_tokens": 120,
                "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "output_tokens": 12,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 132,
            }
        return response

    async def _response_events(self, body: dict[str, Any], plan: Plan) -> AsyncIterator[bytes]:
        self._response_id = self._id("resp")
        yield self._event(
            {"type": "response.created", "response": self._response(body, "in_progress", [])}
        )
        yield self._event(
            {"type": "response.in_progress", "response": self._response(body, "in_progress", [])}
        )
        if isinstance(plan, Call):
            item_id, call_id = self._id("fc"), self._id("call")
            arguments = json.dumps(plan.arguments)
            item = {
                "type": "function_call",
                "id": item_id,
                "call_id": call_id,
                "name": plan.name,
                "arguments": "",
                "status": "in_progress",
            }
            yield self._event(
                {"type": "response.output_item.added", "output_index": 0, "item": item}
            )
            for delta in _split(arguments, 3):
                yield self._event(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id,
                        "output_index": 0,
                        "delta": delta,
                    }
                )
            yield self._event(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "name": plan.name,
                    "arguments": arguments,
                }
            )
            done = {**item, "arguments": arguments, "status": "completed"}
        else:
            assert isinstance(plan, Say | DropAfter)
            item_id = self._id("msg")
            item = {
                "type": "message",
                "id": item_id,
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            yield self._event(
                {"type": "response.output_item.added", "output_index": 0, "item": item}
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            where = {"item_id": item_id, "output_index": 0, "content_index": 0}
            yield self._event({"type": "response.content_part.added", **where, "part": part})
            deltas = plan.deltas
            for delta in _split(plan.text, deltas):
                yield self._event(
                    {"type": "response.output_text.delta", **where, "delta": delta, "logprobs": []}
                )
                await asyncio.sleep(0)
            if isinstance(plan, DropAfter):
                await _wait(plan.gate)
                raise DroppedConnection
            text_part = {**part, "text": plan.text}
            yield self._event(
                {"type": "response.output_text.done", **where, "text": plan.text, "logprobs": []}
            )
            yield self._event({"type": "response.content_part.done", **where, "part": text_part})
            done = {**item, "status": "completed", "content": [text_part]}
        yield self._event({"type": "response.output_item.done", "output_index": 0, "item": done})
        yield self._event(
            {"type": "response.completed", "response": self._response(body, "completed", [done])}
        )

    # --- Chat Completions ---------------------------------------------------------------
    async def _chat_completions(self, request: Request) -> Response:
        body, plan = await self._next_plan(request)
        if isinstance(plan, Response):
            return plan
        return self._sse(self._chat_chunks(body, plan))

    def _chunk(self, chunk_id: str, body: dict[str, Any], **fields: Any) -> bytes:
        chunk = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "gpt-test"),
            **fields,
        }
        ChatCompletionChunk.model_validate(chunk)
        self.emitted += 1
        return f"data: {json.dumps(chunk)}\n\n".encode()

    async def _chat_chunks(self, body: dict[str, Any], plan: Plan) -> AsyncIterator[bytes]:
        chunk_id = self._id("chatcmpl")

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        yield self._chunk(chunk_id, body, **choice({"role": "assistant", "content": ""}))
        if isinstance(plan, Call):
            arguments = json.dumps(plan.arguments)
            call = {
                "index": 0,
                "id": self._id("call"),
                "type": "function",
                "function": {"name": plan.name, "arguments": ""},
            }
            yield self._chunk(chunk_id, body, **choice({"tool_calls": [call]}))
            for delta in _split(arguments, 3):
                part = {"index": 0, "function": {"arguments": delta}}
                yield self._chunk(chunk_id, body, **choice({"tool_calls": [part]}))
            finish = "tool_calls"
        else:
            assert isinstance(plan, Say | DropAfter)
            deltas = plan.deltas
            for delta in _split(plan.text, deltas):
                yield self._chunk(chunk_id, body, **choice({"content": delta}))
                await asyncio.sleep(0)
            if isinstance(plan, DropAfter):
                await _wait(plan.gate)
                raise DroppedConnection
            finish = "stop"
        yield self._chunk(chunk_id, body, **choice({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}
            yield self._chunk(chunk_id, body, choices=[], usage=usage)
        yield b"data: [DONE]\n\n"


@contextmanager
def run_fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with live_server(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
