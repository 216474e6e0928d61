"""Fault injection for development: a loopback proxy in front of DynamoDB (Local) that fails a
chosen fraction of requests, and a chat load that checks nothing was lost or duplicated.

Never part of a deployment. Used by tests/e2e/test_faults.py (sized for CI) and
bench/faults.py (bigger). The proxy speaks HTTP/1.1 through h11 and forwards with httpx; for
each data-plane request (X-Amz-Target DynamoDB_20120810.*, table management excluded) it
draws from a seeded random generator whether to answer, instead of DynamoDB:
- `throttle`: 400 ProvisionedThroughputExceededException or ThrottlingException,
- `internal`: 500 InternalServerError,
- `drop`: close the connection without an answer, half the time before forwarding the request
  and half the time after it was applied (the client cannot tell which: a retried write must
  be harmless).
`fail_next` schedules faults instead: the next requests of one operation fail in a chosen way.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import h11
import httpx

from todo_assistant_dev.live_server import live_server

FaultKind = Literal["throttle", "internal", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("throttle", "internal", "drop")
_TABLE_MANAGEMENT = {"CreateTable", "DescribeTable", "DeleteTable", "UpdateTimeToLive"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_JSON_10 = "application/x-amz-json-1.0"
_SCHEDULABLE = (
    "internal",
    "throttle:provisioned",
    "throttle:throttling",
    "drop:before",
    "drop:after",
)


@dataclass
class FaultCounts:
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def injected(self) -> int:
        return sum(self.faults.values())


class FaultProxy:
    def __init__(
        self,
        target: str,
        *,
        fraction: float,
        seed: int = 0,
        kinds: Sequence[FaultKind] = FAULT_KINDS,
    ) -> None:
        self.target = target.rstrip("/")
        self.fraction = fraction
        self.kinds = tuple(kinds)
        self.counts = FaultCounts()
        self._random = random.Random(seed)  # noqa: S311 - a test schedule, not a secret
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None
        self._scheduled: dict[str, list[str | None]] = {}

    def fail_next(self, operation: str, fault: str, times: int = 1, *, skip: int = 0) -> None:
        """After `skip` more requests of `operation` (e.g. "PutItem") pass, the next `times`
        get `fault` ("internal", "throttle:throttling", "throttle:provisioned", "drop:before"
        or "drop:after")."""
        if fault not in _SCHEDULABLE:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._scheduled.setdefault(operation, []).extend([None] * skip + [fault] * times)

    def _decide(self, operation: str) -> str | None:
        with self._lock:
            self.counts.requests += 1
            if scheduled := self._scheduled.get(operation):
                fault = scheduled.pop(0)
                if fault is not None:
                    self.counts.faults[fault] += 1
                return fault
            if operation in _TABLE_MANAGEMENT or self.fraction <= 0:
                return None
            if self._random.random() >= self.fraction:
                return None
            kind: str = self._random.choice(self.kinds)
            if kind == "throttle":
                kind = self._random.choice(["throttle:provisioned", "throttle:throttling"])
            elif kind == "drop":
                kind = self._random.choice(["drop:before", "drop:after"])
            self.counts.faults[kind] += 1
            return kind

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(connection, reader)
                if request is None:
                    return
                head, body = request
                headers = [(k.decode(), v.decode()) for k, v in head.headers]
                target = dict((k.lower(), v) for k, v in headers).get("x-amz-target", "")
                fault = self._decide(target.rsplit(".", 1)[-1])
                if fault == "drop:before":
                    return
                if fault is None or fault == "drop:after":
                    status, reply_headers, reply = await self._forward(head, headers, body)
                    if fault == "drop:after":
                        return
                else:
                    status, reply_headers, reply = _error_reply(fault)
                writer.write(
                    connection.send(
                        h11.Response(
                            status_code=status,
                            headers=[*reply_headers, ("content-length", str(len(reply)))],
                        )
                    )
                    or b""
                )
                writer.write(connection.send(h11.Data(data=reply)) or b"")
                writer.write(connection.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return
                connection.start_next_cycle()
        except (ConnectionError, h11.RemoteProtocolError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read_request(
        connection: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request, bytes] | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65_536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return head, bytes(body)
            else:  # ConnectionClosed, or the client went away mid-request
                return None

    async def _forward(
        self, head: h11.Request, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._client is not None
        response = await self._client.request(
            head.method.decode(),
            self.target + head.target.decode(),
            headers=[(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP],
            content=body,
        )
        kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP]
        return response.status_code, kept, response.content

    @contextmanager
    def running(self) -> Iterator[str]:
        """Serve on a free loopback port in a thread of its own; yields the proxy's URL."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        address: list[str] = []

        async def serve() -> asyncio.Server:
            self._client = httpx.AsyncClient(timeout=30.0)
            server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            address.append(f"http://127.0.0.1:{port}")
            return server

        def run() -> None:
            asyncio.set_event_loop(loop)
            server = loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()
            server.close()
            # Connections still open (kept alive by their clients) end with the proxy.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            if self._client is not None:
                loop.run_until_complete(self._client.aclose())
            loop.close()

        thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        try:
            yield address[0]
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)


def _error_reply(fault: str) -> tuple[int, list[tuple[str, str]], bytes]:
    kind, status = {
        "throttle:provisioned": (
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            400,
        ),
        "throttle:throttling": ("com.amazon.coral.availability#ThrottlingException", 400),
        "internal": ("com.amazonaws.dynamodb.v20120810#InternalServerError", 500),
    }[fault]
    body = json.dumps({"__type": kind, "message": f"injected fault: {fault}"}).encode()
    headers = [("content-type", _JSON_10), ("x-amzn-requestid", uuid.uuid4().hex)]
    return status, headers, body


# -- the chat load and the rule checked after it -------------------------------------------


@dataclass
class Turn:
    user: str
    token: str  # a unique word in the message and in the task title it creates
    status: int = 0
    acknowledged: bool = False  # the user message's thread.item.done arrived
    effect_reported: bool = False  # a tasks_changed "created" effect arrived
    error: str | None = None  # an HTTP error JSON code or an SSE error event's code
    completed: bool = False  # acknowledged and the stream ended without an error


@dataclass
class LoadFigures:
    turns: int = 0
    faults_injected: int = 0
    acknowledged: int = 0
    completed: int = 0
    errors: int = 0
    unclear_failures: int = 0
    lost: int = 0
    duplicated: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    requests_through_proxy: int = 0

    def table(self) -> str:
        rows = [
            ("turns", self.turns),
            ("faults injected", self.faults_injected),
            ("acknowledged", self.acknowledged),
            ("errors", self.errors),
            ("lost", self.lost),
            ("duplicated", self.duplicated),
        ]
        lines = [f"{name:>16}: {value}" for name, value in rows]
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        lines.append(f"{'fault kinds':>16}: {kinds or '-'}")
        lines.append(f"{'completed':>16}: {self.completed} (no error, effect reported)")
        lines.append(f"{'DynamoDB calls':>16}: {self.requests_through_proxy} through the proxy")
        return "\n".join(lines)


def _sse(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(block[len("data: ") :])
        for block in text.split("\n\n")
        if block.startswith("data: ")
    ]


async def _run_turn(
    http: httpx.AsyncClient, base_url: str, secret: str, thread: str | None, turn: Turn
) -> str | None:
    text = f"Add a task to file report {turn.token}"
    user_input = {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }
    if thread is None:
        payload: dict[str, Any] = {"type": "threads.create", "params": {"input": user_input}}
    else:
        payload = {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread, "input": user_input},
        }
    try:
        response = await http.post(
            f"{base_url}/chatkit", json=payload, headers={"Authorization": f"Bearer {secret}"}
        )
    except httpx.HTTPError as error:
        turn.error = f"transport:{type(error).__name__}"
        return thread
    turn.status = response.status_code
    if response.status_code != 200:
        try:
            turn.error = f"http:{response.status_code}:{response.json()['error']}"
        except (ValueError, KeyError):
            turn.error = None  # no clear error: counted as unclear
            turn.status = -response.status_code
        return thread
    for event in _sse(response.text):
        kind = event.get("type")
        if kind == "thread.created":
            thread = event["thread"]["id"]
        elif kind == "thread.item.done" and event["item"]["type"] == "user_message":
            turn.acknowledged = True
        elif kind == "client_effect" and event.get("data", {}).get("action") == "created":
            turn.effect_reported = True
        elif kind == "error":
            turn.error = f"sse:{event.get('code')}"
    turn.completed = turn.acknowledged and turn.error is None and turn.effect_reported
    return thread


async def chat_load(
    base_url: str, users: int, turns_per_user: int, *, run_id: str | None = None
) -> tuple[list[Turn], dict[str, str]]:
    """`users` users chat at once, each `turns_per_user` task-adding turns in a row.
    Returns every turn and each user's thread id (None if no thread was ever created)."""
    run_id = run_id or uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=users * 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as http:

        async def one_user(index: int) -> tuple[str, list[Turn], str | None]:
            user = f"load-{run_id}-{index}"
            signed_in = await http.post(f"{base_url}/session", json={"user_id": user})
            secret = signed_in.raise_for_status().json()["client_secret"]
            thread: str | None = None
            done: list[Turn] = []
            for n in range(turns_per_user):
                turn = Turn(user=user, token=f"r{run_id}u{index}n{n}")
                thread = await _run_turn(http, base_url, secret, thread, turn)
                done.append(turn)
            return user, done, thread

        results = await asyncio.gather(*(one_user(i) for i in range(users)))
    turns = [turn for _, done, _ in results for turn in done]
    threads = {user: thread for user, _, thread in results if thread}
    return turns, threads


def check_turns(
    turns: list[Turn], messages: dict[str, list[str]], tasks: dict[str, list[str]]
) -> LoadFigures:
    """The rule: every acknowledged turn's message is stored exactly once; every turn that
    reported its effect (or completed) has its task exactly once; nothing is stored twice;
    every turn that did not complete reached the client as a clear error.

    `messages` and `tasks`: per user, the texts of the stored user messages and the stored
    task titles, read after the run straight from the database.
    """
    figures = LoadFigures(turns=len(turns))
    for turn in turns:
        pattern = re.compile(rf"\b{re.escape(turn.token)}\b", re.IGNORECASE)
        stored_messages = sum(1 for m in messages.get(turn.user, []) if pattern.search(m))
        stored_tasks = sum(1 for t in tasks.get(turn.user, []) if pattern.search(t))
        figures.acknowledged += turn.acknowledged
        figures.completed += turn.completed
        if turn.error is not None:
            figures.errors += 1
        elif not turn.completed:
            figures.unclear_failures += 1
        if stored_messages > 1 or stored_tasks > 1:
            figures.duplicated += 1
        elif (turn.acknowledged and stored_messages != 1) or (
            (turn.effect_reported or turn.completed) and stored_tasks != 1
        ):
            figures.lost += 1
    return figures


# One helper serves tests, benches and the fault runs alike.
serve_in_thread = live_server
