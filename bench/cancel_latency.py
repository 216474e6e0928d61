"""Stop over loopback HTTP: how soon a cancelled turn's stream ends, and what listening costs.

The real app (uvicorn; DynamoDB Local when installed, else the moto server) runs the slow
scripted model of the Stop tests (`tests/support/slow_model.py`: 60 one-word deltas 40 ms
apart, then an `add_task` call). Each run starts a turn, sends `POST /chatkit/cancel` after
a few deltas (3 to 27, so the cancels land at every point of the turn's read interval), and
times the end of the stream from the moment the cancel was sent; the thread is then checked (partial answer and the SDK's stop note saved, no task added). Then:
the stop-request reads of fast turns (none expected) and of a slow turn left to finish.

    python -m bench.cancel_latency [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from agents import set_tracing_disabled
from chatkit.types import SDKHiddenContextItem

from bench.support import (
    PRICE_PER_MILLION_READS,
    bench_settings,
    dynamodb_backend,
    median,
    p90,
    print_table,
)
from tests.support.slow_model import ANSWER_DELTAS, SlowTalker, slow_request
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db.table import TableRow
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.tasks.models import StatusFilter
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_chatkit_app, build_chatkit_dependencies, build_store
from todo_assistant.wiring.session import build_session_app
from todo_assistant.wiring.shared import build_task_service
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)
from todo_assistant_dev.live_server import live_server
from todo_assistant_dev.stack import PathRouter, prepare_aws_resources

# The n-th run cancels after CANCEL_AFTER[n % len] deltas: 0.12 s to 1.1 s into the answer.
CANCEL_AFTER = (3, 15, 9, 21, 6, 27, 12, 24, 18)
FAST_TURNS = ("Add a task to buy milk", "Show me all my tasks", "Thanks!", "What's pending?")


class StopReads:
    """Counts GetItem calls on stop-request rows (sort keys ending in #CANCEL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def install(self) -> None:
        client = TableRow._get_connection().connection.client
        client.meta.events.register("provide-client-params.dynamodb.GetItem", self._on_get)

    def _on_get(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("Key", {}).get("sk", {}).get("S", "").endswith("#CANCEL"):
            with self._lock:
                self.count += 1

    def take(self) -> int:
        with self._lock:
            count, self.count = self.count, 0
        return count


@dataclass
class Stopped:
    latency_ms: float
    cancel_ms: float
    deltas_after: int


@dataclass
class Figures:
    stops: list[Stopped] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    fast_turns: int = 0
    fast_reads: int = 0
    slow_seconds: float = 0.0
    slow_reads: int = 0


@dataclass
class App:
    router: PathRouter
    store: DynamoChatKitStore
    tasks: TaskService


def build_app(settings: Settings) -> App:
    prepare_aws_resources(settings)
    tasks = build_task_service(settings)
    store = build_store(settings)
    deps = build_chatkit_dependencies(
        settings, model_factory=lambda _: SlowTalker(), store=store, tasks=tasks
    )
    router = PathRouter(build_chatkit_app(settings, deps), build_session_app(settings))
    return App(router, store, tasks)


def is_delta(event: dict[str, Any]) -> bool:
    return event["type"] == "thread.item.updated" and event["update"]["type"].endswith("text_delta")


async def stop_one(
    http: httpx.AsyncClient, base_url: str, app: App, figures: Figures, cancel_after: int
) -> None:
    client = ChatKitClient(base_url, client=http)
    user = f"bench-stop-{uuid.uuid4().hex[:10]}"
    headers = {"Authorization": f"Bearer {await client.sign_in(user)}"}
    thread_id = ""
    deltas = deltas_after = 0
    cancel_sent = cancel_done = None
    payload = create_thread_request(slow_request())
    async with http.stream("POST", f"{base_url}/chatkit", json=payload, headers=headers) as reply:
        async for line in reply.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
            if not is_delta(event):
                continue
            deltas += 1
            if cancel_sent is not None:
                deltas_after += 1
            elif deltas == cancel_after:
                cancel_sent = time.perf_counter()
                answer = await http.post(
                    f"{base_url}/chatkit/cancel", json={"thread_id": thread_id}, headers=headers
                )
                cancel_done = time.perf_counter()
                if answer.status_code != 202:
                    figures.failures.append(f"cancel answered {answer.status_code}")
    ended = time.perf_counter()
    if cancel_sent is None or cancel_done is None:
        figures.failures.append("the turn ended before the cancel was sent")
        return
    figures.stops.append(
        Stopped((ended - cancel_sent) * 1000, (cancel_done - cancel_sent) * 1000, deltas_after)
    )
    items = await app.store.load_thread_items(thread_id, None, 20, "asc", RequestContext(user))
    kinds = [type(item).__name__ for item in items.data]
    if kinds != ["UserMessageItem", "AssistantMessageItem", SDKHiddenContextItem.__name__]:
        figures.failures.append(f"thread after a stop: {kinds}")
    if deltas >= ANSWER_DELTAS:
        figures.failures.append("the whole answer streamed: the stop was not seen")
    if await app.tasks.list(user, StatusFilter.ALL, None):
        figures.failures.append("a task was added: a tool ran after the stop")


async def listening_costs(
    http: httpx.AsyncClient, base_url: str, reads: StopReads, figures: Figures
) -> None:
    client = ChatKitClient(base_url, client=http)
    await client.sign_in(f"bench-reads-{uuid.uuid4().hex[:10]}")
    thread_id = ""
    reads.take()
    for index, text in enumerate(FAST_TURNS * 3):
        request = (
            create_thread_request(text) if index == 0 else add_message_request(thread_id, text)
        )
        async for event in client.stream(request):
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
        figures.fast_turns += 1
    figures.fast_reads = reads.take()

    started = time.perf_counter()
    async for _ in client.stream(add_message_request(thread_id, slow_request())):
        pass
    figures.slow_seconds = time.perf_counter() - started
    figures.slow_reads = reads.take()


async def measure(base_url: str, app: App, reads: StopReads, runs: int) -> Figures:
    figures = Figures()
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
        await stop_one(http, base_url, app, Figures(), 3)  # warm-up: imports, connections
        for run in range(runs):
            await stop_one(http, base_url, app, figures, CANCEL_AFTER[run % len(CANCEL_AFTER)])
        await listening_costs(http, base_url, reads, figures)
    return figures


def report(figures: Figures, label: str, interval: float) -> None:
    latency = [s.latency_ms for s in figures.stops]
    cancel = [s.cancel_ms for s in figures.stops]
    after = [float(s.deltas_after) for s in figures.stops]
    print()
    print(
        f"{len(figures.stops)} stopped turns over loopback HTTP ({label}; stop read every "
        f"{interval} s; the model writes a delta every 40 ms)"
    )
    print_table(
        ["measure", "median", "p90", "min", "max"],
        [
            [
                "cancel sent -> stream ended, ms",
                f"{median(latency):.0f}",
                f"{p90(latency):.0f}",
                f"{min(latency):.0f}",
                f"{max(latency):.0f}",
            ],
            [
                "POST /chatkit/cancel round trip, ms",
                f"{median(cancel):.1f}",
                f"{p90(cancel):.1f}",
                f"{min(cancel):.1f}",
                f"{max(cancel):.1f}",
            ],
            [
                "deltas received after the cancel",
                f"{median(after):.0f}",
                f"{p90(after):.0f}",
                f"{min(after):.0f}",
                f"{max(after):.0f}",
            ],
        ],
    )
    per_second = figures.slow_reads / figures.slow_seconds if figures.slow_seconds else 0.0
    print()
    print("Stop-request reads (strongly consistent GetItem, 1 read unit each)")
    print_table(
        ["turns", "seconds", "stop reads", "reads/s", "$ per 1,000 turn-seconds"],
        [
            [f"{figures.fast_turns} fast turns (local model)", "-", figures.fast_reads, "-", "-"],
            [
                "1 slow turn, left to finish",
                f"{figures.slow_seconds:.2f}",
                figures.slow_reads,
                f"{per_second:.2f}",
                f"{per_second * 1_000 * PRICE_PER_MILLION_READS / 1e6:.6f}",
            ],
        ],
    )
    if figures.fast_reads:
        figures.failures.append(f"fast turns read the stop request {figures.fast_reads} times")
    status = "every stopped thread as expected" if not figures.failures else "FAILURES:"
    print(status)
    for failure in figures.failures:
        print(f"  {failure}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    set_tracing_disabled(True)
    with dynamodb_backend() as backend:
        print(f"DynamoDB backend: {backend.label} at {backend.endpoint}")
        settings = bench_settings(backend.endpoint)
        app = build_app(settings)
        reads = StopReads()
        reads.install()  # after build_app's table binding, which makes fresh clients
        with live_server(app.router) as base_url:
            figures = asyncio.run(measure(base_url, app, reads, args.runs))
        report(figures, backend.label, settings.stop_check_seconds)
    return 1 if figures.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
