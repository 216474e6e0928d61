"""Chat turns over real loopback HTTP: DynamoDB store against the in-memory baseline.

The same ASGI app as the local stack (chatkit + session apps behind `PathRouter`, served by
uvicorn in a background thread) runs twice in this process: on DynamoDB (DynamoDB Local when
installed, else the moto server) and on the in-memory store and task repository. Each run
signs in, then sends N user turns (the first creates the thread) with the local model's
everyday phrasings, and times the first SSE byte and the last byte of every streamed reply.

    python -m bench.turns [--turns 30] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from agents import set_tracing_disabled

from bench.memory_store import MemoryChatKitStore
from bench.support import (
    PRICE_PER_MILLION_READS,
    PRICE_PER_MILLION_WRITES,
    CallStats,
    DynamoCallCounter,
    bench_settings,
    dynamodb_backend,
    median,
    ops_summary,
    p90,
    print_table,
    ratio,
)
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.tasks.service import TaskService
from todo_assistant.wiring.chatkit import build_chatkit_app, build_chatkit_dependencies, build_store
from todo_assistant.wiring.session import build_session_app, build_session_dependencies
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)
from todo_assistant_dev.chores import CHORES
from todo_assistant_dev.live_server import live_server
from todo_assistant_dev.memory_tasks import MemoryTaskRepository
from todo_assistant_dev.stack import PathRouter, prepare_aws_resources

# After the opening "add", this cycle repeats: two adds per completion keeps every
# "Mark task N as complete" pointing at a task that exists.
CYCLE = ("list", "add", "complete", "plain", "pending", "add")
# Calls per turn measured on the previous key layout (two indexed copies of every item, a
# separate thread touch, the thread written twice on create), for the table's "before" column.
BEFORE_CALLS = {
    "create": 8.0,
    "add": 7.0,
    "complete": 7.0,
    "list": 6.0,
    "pending": 6.0,
    "plain": 5.0,
}


def script(turns: int) -> list[tuple[str, str]]:
    """(kind, text) of each turn; deterministic so both backends see the same conversation."""
    plan = [("add", f"Add a task to {CHORES[0]}")]
    adds, completed = 1, 0
    for index in range(1, turns):
        kind = CYCLE[(index - 1) % len(CYCLE)]
        if kind == "add":
            plan.append((kind, f"Add a task to {CHORES[adds % len(CHORES)]}"))
            adds += 1
        elif kind == "complete":
            completed += 1
            plan.append((kind, f"Mark task {completed} as complete"))
        elif kind == "list":
            plan.append((kind, "Show me all my tasks"))
        elif kind == "plain":
            plan.append((kind, "Thanks!"))
        else:
            plan.append((kind, "What's pending?"))
    return plan


@dataclass
class Turn:
    kind: str
    ttfb_ms: float
    total_ms: float
    calls: CallStats
    events: list[dict[str, Any]]
    started: float = 0.0  # perf_counter seconds when the request was sent

    @property
    def ttfb_wait_ms(self) -> float:
        """Of the time to first byte, how long the server waited on DynamoDB."""
        return self.calls.waited_ms(until=self.started + self.ttfb_ms / 1000)

    @property
    def total_wait_ms(self) -> float:
        return self.calls.waited_ms()


@dataclass
class Run:
    label: str
    turns: list[Turn] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def ttfb(self) -> list[float]:
        return [t.ttfb_ms for t in self.turns]

    def total(self) -> list[float]:
        return [t.total_ms for t in self.turns]

    def calls(self, kind: str | None = None) -> tuple[CallStats, int]:
        stats = CallStats()
        chosen = [t for t in self.turns if kind is None or t.kind == kind]
        for turn in chosen:
            stats.add(turn.calls)
        return stats, len(chosen)


def parse_sse(body: bytes) -> list[dict[str, Any]]:
    events = []
    for block in body.split(b"\n\n"):
        for line in block.splitlines():
            if line.startswith(b"data:"):
                events.append(json.loads(line[5:].strip()))
    return events


def check_turn(kind: str, events: list[dict[str, Any]]) -> str | None:
    """Why a turn did not do its job, or None: a fast broken turn must not pass as fast."""
    if any(e.get("type") == "error" for e in events):
        return f"{kind}: error event {[e for e in events if e.get('type') == 'error']}"
    replies = [
        e
        for e in events
        if e.get("type") == "thread.item.done" and e["item"].get("type") == "assistant_message"
    ]
    if not replies:
        return f"{kind}: no assistant message"
    text = " ".join(c.get("text", "") for r in replies for c in r["item"].get("content", []))
    expected = {
        "add": "Added task",
        "list": "You have",
        "pending": "You have",
        "complete": "Completed task",
        "plain": "welcome",
    }
    if expected[kind] not in text:
        return f"{kind}: unexpected reply {text!r}"
    return None


async def one_turn(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], payload: dict[str, Any]
) -> tuple[float, float, bytes]:
    """(ms to first body byte, ms to last byte, body) of one streamed ChatKit request."""
    body = bytearray()
    first: float | None = None
    start = time.perf_counter()
    async with http.stream("POST", url, json=payload, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        async for chunk in response.aiter_raw():
            if first is None:
                first = time.perf_counter()
            body.extend(chunk)
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, bytes(body)


async def converse(base_url: str, turns: int, counter: DynamoCallCounter | None, run: Run) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
        client = ChatKitClient(base_url, client=http)
        # A fresh user per conversation: task numbers and history start empty.
        secret = await client.sign_in(f"bench-{uuid.uuid4().hex[:10]}")
        headers = {"Authorization": f"Bearer {secret}"}
        thread_id = ""
        for index, (kind, text) in enumerate(script(turns)):
            payload = (
                create_thread_request(text) if index == 0 else add_message_request(thread_id, text)
            )
            if counter is not None:
                counter.take()
            started = time.perf_counter()
            ttfb, total, body = await one_turn(http, f"{base_url}/chatkit", headers, payload)
            calls = counter.take() if counter is not None else CallStats()
            events = parse_sse(body)
            if index == 0:
                created = [e for e in events if e.get("type") == "thread.created"]
                thread_id = created[0]["thread"]["id"] if created else ""
            if problem := check_turn(kind, events):
                run.failures.append(f"turn {index + 1} {problem}")
            run.turns.append(Turn(kind, ttfb, total, calls, events, started))


def measure(
    label: str,
    app_factory: Callable[[], tuple[PathRouter, DynamoCallCounter | None]],
    turns: int,
    warmup: int,
) -> Run:
    app, counter = app_factory()
    run = Run(label)
    with live_server(app) as base_url:
        if warmup:
            # The first requests pay lazy imports and open connections: keep them out.
            asyncio.run(converse(base_url, warmup, counter, Run("warm-up")))
        asyncio.run(converse(base_url, turns, counter, run))
    return run


def dynamo_app(settings: Settings) -> tuple[PathRouter, DynamoCallCounter | None]:
    prepare_aws_resources(settings)
    deps = build_chatkit_dependencies(settings, model_factory=bench_model)
    app = PathRouter(build_chatkit_app(settings, deps), build_session_app(settings))
    counter = DynamoCallCounter()
    counter.install()
    return app, counter


def memory_app(settings: Settings) -> tuple[PathRouter, DynamoCallCounter | None]:
    tasks = TaskService(MemoryTaskRepository())
    # The same wiring with threads and tasks in memory. The rate limit still counts each turn
    # in DynamoDB, as it always has in this baseline: the ratios stay comparable across runs.
    deps = build_chatkit_dependencies(
        settings, model_factory=bench_model, store=MemoryChatKitStore(), tasks=tasks
    )
    in_memory = replace(build_session_dependencies(settings), secrets=deps.secrets, tasks=tasks)
    session = build_session_app(settings, in_memory)
    chatkit = build_chatkit_app(settings, deps)
    counter = DynamoCallCounter()  # the rate limit's calls, timed like the store's
    counter.install()
    return PathRouter(chatkit, session), counter


def bench_model(model_id: str | None) -> LocalTodoModel:
    # No pacing delay: the figures are the backend's own cost, not a model's.
    return LocalTodoModel(delay_seconds=0.0)


def report(dynamo: Run, baseline: Run, turns: int) -> None:
    def row(run: Run) -> list[object]:
        stats, count = run.calls()
        return [
            run.label,
            f"{median(run.ttfb()):.1f}",
            f"{p90(run.ttfb()):.1f}",
            f"{median(run.total()):.1f}",
            f"{p90(run.total()):.1f}",
            f"{stats.total / count:.1f}",
        ]

    print()
    print(f"{turns} turns per backend over loopback HTTP (uvicorn, local model, no delay)")
    print_table(
        [
            "backend",
            "median TTFB ms",
            "p90 TTFB ms",
            "median total ms",
            "p90 total ms",
            "DDB calls/turn",
        ],
        [
            row(dynamo),
            row(baseline),
            [
                "ratio DynamoDB/baseline",
                ratio(median(dynamo.ttfb()), median(baseline.ttfb())),
                ratio(p90(dynamo.ttfb()), p90(baseline.ttfb())),
                ratio(median(dynamo.total()), median(baseline.total())),
                ratio(p90(dynamo.total()), p90(baseline.total())),
                "",
            ],
        ],
    )

    report_waits(dynamo, baseline)

    print()
    print(f"DynamoDB calls per turn by kind of turn ({dynamo.label})")
    rows: list[list[object]] = []
    kinds = ["create", *sorted({t.kind for t in dynamo.turns[1:]})]
    for kind in kinds:
        chosen = (
            dynamo.turns[:1]
            if kind == "create"
            else [t for t in dynamo.turns[1:] if t.kind == kind]
        )
        stats = CallStats()
        for turn in chosen:
            stats.add(turn.calls)
        n = len(chosen)
        totals = [t.total_ms for t in chosen]
        base = (
            [t.total_ms for t in baseline.turns if t.kind == kind]
            if kind != "create"
            else [baseline.turns[0].total_ms]
        )
        rows.append(
            [
                "threads.create (add)" if kind == "create" else kind,
                n,
                f"{median(totals):.1f}",
                f"{median(base):.1f}",
                f"{BEFORE_CALLS.get(kind, float('nan')):.1f}",
                f"{stats.total / n:.1f}",
                f"{stats.read_units / n:.1f}",
                f"{stats.write_units / n:.1f}",
                f"{stats.rows_read['Query'] / n:.1f}",
                ops_summary(stats.calls, n),
            ]
        )
    all_stats, n = dynamo.calls()
    rows.append(
        [
            "all turns",
            n,
            f"{median(dynamo.total()):.1f}",
            f"{median(baseline.total()):.1f}",
            "6.6",
            f"{all_stats.total / n:.1f}",
            f"{all_stats.read_units / n:.1f}",
            f"{all_stats.write_units / n:.1f}",
            f"{all_stats.rows_read['Query'] / n:.1f}",
            ops_summary(all_stats.calls, n),
        ]
    )
    print_table(
        [
            "turn",
            "n",
            "median total ms",
            "baseline ms",
            "calls before",
            "calls/turn",
            "read units",
            "write units",
            "Query rows read/turn",
            "calls/turn by operation",
        ],
        rows,
    )
    reads, writes = all_stats.read_units / n * 1_000, all_stats.write_units / n * 1_000
    cost = reads * PRICE_PER_MILLION_READS / 1e6 + writes * PRICE_PER_MILLION_WRITES / 1e6
    print(
        f"1,000 turns of this mix: {reads:,.0f} read units + {writes:,.0f} write units = "
        f"${cost:.5f} at on-demand prices (${PRICE_PER_MILLION_READS}/M reads, "
        f"${PRICE_PER_MILLION_WRITES}/M writes)"
    )
    for run in (dynamo, baseline):
        status = "all turns answered as expected" if not run.failures else "FAILURES:"
        print(f"{run.label}: {status}")
        for failure in run.failures:
            print(f"  {failure}")


def report_waits(dynamo: Run, baseline: Run) -> None:
    """Split each turn into the time the server waited on DynamoDB (calls in flight, overlaps
    counted once) and the rest: what the emulator's latency adds, and what the code does."""

    def split(run: Run) -> tuple[float, float, float, float]:
        waits = [t.ttfb_wait_ms for t in run.turns]
        rest = [t.ttfb_ms - w for t, w in zip(run.turns, waits, strict=True)]
        total_waits = [t.total_wait_ms for t in run.turns]
        total_rest = [t.total_ms - w for t, w in zip(run.turns, total_waits, strict=True)]
        return median(waits), median(rest), median(total_waits), median(total_rest)

    figures = {run.label: split(run) for run in (dynamo, baseline)}
    print()
    print("Where a turn's time goes (medians per turn): waiting on DynamoDB, and the rest")
    print_table(
        [
            "backend",
            "TTFB: DynamoDB wait ms",
            "TTFB: the rest ms",
            "total: DynamoDB wait ms",
            "total: the rest ms",
        ],
        [(label, *(f"{value:.1f}" for value in values)) for label, values in figures.items()],
    )
    d, b = figures[dynamo.label], figures[baseline.label]
    print(
        f"Outside DynamoDB waits: first byte {ratio(d[1], b[1])}, last byte {ratio(d[3], b[3])} "
        "of the baseline's (the store's own code: reading and writing rows)."
    )


THREAD_LENGTHS = (10, 1_000)


async def turns_on_long_threads(base_url: str, counter: DynamoCallCounter, store: Any) -> None:
    """A plain turn and a tool turn on threads of 10 and 1,000 items: the same calls."""
    from bench.items_list import seed_thread

    rows: list[list[object]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
        client = ChatKitClient(base_url, client=http)
        user = f"bench-long-{uuid.uuid4().hex[:8]}"
        secret = await client.sign_in(user)
        headers = {"Authorization": f"Bearer {secret}"}
        for size in THREAD_LENGTHS:
            thread_id, _ = await seed_thread(store, RequestContext(user_id=user), size)
            for kind, text in (("plain", "Thanks!"), ("list", "Show me all my tasks")):
                counter.take()
                _, total, body = await one_turn(
                    http, f"{base_url}/chatkit", headers, add_message_request(thread_id, text)
                )
                stats = counter.take()
                problem = check_turn(kind, parse_sse(body))
                rows.append(
                    [
                        f"{kind}, {size:,} items",
                        f"{total:.1f}",
                        stats.total,
                        f"{stats.read_units:.1f}",
                        f"{stats.write_units:.1f}",
                        ops_summary(stats.calls, 1),
                        problem or "ok",
                    ]
                )
    print()
    print("The same turns on a thread of 10 and of 1,000 items")
    print_table(
        ["turn", "total ms", "calls", "read units", "write units", "by operation", "answer"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured turns per backend")
    args = parser.parse_args(argv)
    set_tracing_disabled(True)
    with dynamodb_backend() as backend:
        print(f"DynamoDB backend: {backend.label} at {backend.endpoint}")
        settings = bench_settings(backend.endpoint)
        dynamo = measure(
            f"DynamoDB ({backend.label})", lambda: dynamo_app(settings), args.turns, args.warmup
        )
        baseline = measure(
            "baseline (in-memory)", lambda: memory_app(settings), args.turns, args.warmup
        )
        report(dynamo, baseline, args.turns)
        app, counter = dynamo_app(settings)
        assert counter is not None
        seeding_store = build_store(settings)
        with live_server(app) as base_url:
            asyncio.run(turns_on_long_threads(base_url, counter, seeding_store))
    return 1 if dynamo.failures or baseline.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
