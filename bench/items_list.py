"""items.list cost against thread size: 100 vs 10,000 items in one thread.

A page is one Query on the ordered local index (plus one GetItem for the cursor when `after`
is given), so its cost must not depend on how long the thread is. This prints, per page
kind and thread size, the DynamoDB calls, the rows DynamoDB read, the bytes received and the
median time of `DynamoChatKitStore.load_thread_items`, and the ratio 10k/100.

Each thread shares its user's partition with a small neighbour thread, as in production, so
a tail page shows whether a Query reads past its own thread. A last table compares the first
page of a small thread alone and with a large thread sorting after it in the partition.

    python -m bench.items_list [--repeats 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    Page,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from bench.support import (
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
from todo_assistant.context import RequestContext
from todo_assistant.db.payloads import PayloadCodec
from todo_assistant.db.table import ItemRow, create_table_if_missing
from todo_assistant.ids import new_id
from todo_assistant.store.dynamo import (
    DynamoChatKitStore,
)
from todo_assistant.wiring.shared import bind_table

SIZES = (100, 10_000)
NEIGHBOUR_SIZE = 30
PAGE_SIZE = 20
TEXT = (
    "Sure - I added that to your list. You now have several pending tasks; the most urgent "
    "one is due tomorrow, so you may want to start with it. Anything else I can help with?"
)


def make_item(thread_id: str, index: int, created_at: datetime) -> ThreadItem:
    if index % 2 == 0:
        return UserMessageItem(
            id=new_id("msg"),
            thread_id=thread_id,
            created_at=created_at,
            content=[UserMessageTextContent(text=f"Add a task to do chore number {index}")],
            attachments=[],
            inference_options=InferenceOptions(),
        )
    return AssistantMessageItem(
        id=new_id("msg"),
        thread_id=thread_id,
        created_at=created_at,
        content=[AssistantMessageContent(text=TEXT)],
    )


async def seed_thread(
    store: DynamoChatKitStore, ctx: RequestContext, size: int
) -> tuple[str, list[str]]:
    """A thread of `size` items; returns its id and the item ids, oldest first."""
    thread = ThreadMetadata(id=new_id("thr"), title=f"{size} items", created_at=datetime.now())
    await store.save_thread(thread, ctx)
    start = datetime.now() - timedelta(seconds=size)
    items = [make_item(thread.id, i, start + timedelta(milliseconds=i)) for i in range(size)]

    def write() -> None:
        # BatchWriteItem, 25 rows per call: 10k single PutItems would dominate the runtime.
        with ItemRow.batch_write() as batch:
            for item in items:
                batch.save(store.item_row(thread.id, item, ctx.user_id))

    await asyncio.to_thread(write)
    return thread.id, [item.id for item in items]


@dataclass(frozen=True)
class PageKind:
    label: str
    order: str
    cursor: str  # where `after` points: "none", "middle", or "tail" (10 items from the end)

    def after(self, ids: list[str]) -> str | None:
        if self.cursor == "none":
            return None
        if self.cursor == "middle":
            return ids[len(ids) // 2]
        return ids[10]  # ten older items left: the last page of a desc listing

    def expected(self, ids: list[str]) -> tuple[list[str], bool]:
        """The ids and has_more a correct store returns (ordering by created_at, then id)."""
        ordered = ids if self.order == "asc" else ids[::-1]
        after = self.after(ids)
        start = 0 if after is None else ordered.index(after) + 1
        window = ordered[start : start + PAGE_SIZE + 1]
        return window[:PAGE_SIZE], len(window) > PAGE_SIZE


FIRST = PageKind("first page (desc)", "desc", "none")
PAGES = (
    FIRST,
    PageKind("middle page (desc, after)", "desc", "middle"),
    PageKind("middle page (asc, after)", "asc", "middle"),
    PageKind("last page (desc, after, 10 left)", "desc", "tail"),
)


@dataclass(frozen=True)
class Case:
    """One seeded thread and the page kinds measured on it."""

    name: str
    ctx: RequestContext
    thread_id: str
    ids: list[str]
    pages: tuple[PageKind, ...]


@dataclass
class Sample:
    times_ms: list[float] = field(default_factory=list)
    calls: CallStats = field(default_factory=CallStats)
    rows_returned: int = 0
    runs: int = 0


async def measure(
    store: DynamoChatKitStore, cases: list[Case], counter: DynamoCallCounter, repeats: int
) -> dict[tuple[str, str], Sample]:
    samples: dict[tuple[str, str], Sample] = {}
    plan = [(case, kind) for case in cases for kind in case.pages]
    shuffler = random.Random(7)
    for repeat in range(repeats + 1):
        # Interleaved, in a new order each round, so drift (GC, the emulator's JIT) and the
        # position in the round weigh on every thread and page kind alike.
        shuffler.shuffle(plan)
        for case, kind in plan:
            counter.take()
            start = time.perf_counter()
            page: Page[ThreadItem] = await store.load_thread_items(
                case.thread_id, kind.after(case.ids), PAGE_SIZE, kind.order, case.ctx
            )
            elapsed = (time.perf_counter() - start) * 1000
            calls = counter.take()
            want, has_more = kind.expected(case.ids)
            got = [item.id for item in page.data]
            if got != want or page.has_more != has_more:
                raise RuntimeError(f"{kind.label} on {case.name} returned a wrong page: {got}")
            if repeat == 0:
                continue  # the first round warms connections and the emulator
            sample = samples.setdefault((case.name, kind.label), Sample())
            sample.times_ms.append(elapsed)
            sample.rows_returned += len(page.data)
            sample.calls.add(calls)
            sample.runs += 1
    return samples


def _row(label: str, items: str, s: Sample) -> list[object]:
    return [
        label,
        items,
        f"{median(s.times_ms):.2f}",
        f"{p90(s.times_ms):.2f}",
        f"{s.calls.total / s.runs:.1f}",
        ops_summary(s.calls.calls, s.runs),
        f"{s.rows_returned / s.runs:.0f}",
        f"{s.calls.rows_read['Query'] / s.runs:.0f}",
        f"{sum(s.calls.bytes_in.values()) / s.runs / 1024:.1f}",
    ]


HEADERS = [
    "page",
    "items",
    "median ms",
    "p90 ms",
    "DDB calls",
    "calls by operation",
    "items returned",
    "Query rows read",
    "KB received",
]


def report(samples: dict[tuple[str, str], Sample], backend: str, repeats: int) -> None:
    small, large = (f"{size:,} items" for size in SIZES)
    print()
    print(
        f"load_thread_items(limit={PAGE_SIZE}) on {backend}, median of {repeats} runs; "
        "every page checked against the expected ids and has_more"
    )
    rows: list[list[object]] = []
    for kind in PAGES:
        a, b = samples[(small, kind.label)], samples[(large, kind.label)]
        rows.append(_row(kind.label, f"{SIZES[0]:,}", a))
        rows.append(_row(kind.label, f"{SIZES[1]:,}", b))
        rows.append(
            [
                f"  ratio {SIZES[1] // 1000}k/{SIZES[0]}",
                "",
                ratio(median(b.times_ms), median(a.times_ms)),
                ratio(p90(b.times_ms), p90(a.times_ms)),
                ratio(b.calls.total / b.runs, a.calls.total / a.runs),
                "",
                "",
                ratio(b.calls.rows_read["Query"] / b.runs, a.calls.rows_read["Query"] / a.runs),
                "",
            ]
        )
    print_table(HEADERS, rows)

    # Same thread size, same Query; only what else sorts after the thread in the partition
    # differs. Real DynamoDB seeks to a begins_with range; an emulator may walk to it.
    alone, below = samples[(small, FIRST.label)], samples[(BELOW_LARGE, FIRST.label)]
    print()
    print(
        f"First page (desc) of a {SIZES[0]}-item thread: alone vs with a {large} thread "
        "sorting after it in the same partition"
    )
    print_table(
        HEADERS,
        [
            _row("alone in its partition", f"{SIZES[0]:,}", alone),
            _row(f"below a {large} thread", f"{SIZES[0]:,}", below),
            [
                "  ratio below/alone",
                "",
                ratio(median(below.times_ms), median(alone.times_ms)),
                ratio(p90(below.times_ms), p90(alone.times_ms)),
                "",
                "",
                "",
                "",
                "",
            ],
        ],
    )


BELOW_LARGE = "below large"


async def run(repeats: int, endpoint: str) -> dict[tuple[str, str], Sample]:
    settings = bench_settings(endpoint, table_name=f"todo-assistant-bench-{uuid.uuid4().hex[:6]}")
    bind_table(settings)
    create_table_if_missing()
    store = DynamoChatKitStore(PayloadCodec(None))
    counter = DynamoCallCounter()
    counter.install()

    started = time.perf_counter()
    cases: list[Case] = []
    for size in SIZES:
        # One user per size, laid out alike: a small neighbour thread first (its items sort
        # just below the measured thread's in the index, so a tail page could reach them),
        # then the measured thread, which is the last thread of the partition.
        ctx = RequestContext(user_id=f"bench-{uuid.uuid4().hex[:10]}")
        await seed_thread(store, ctx, NEIGHBOUR_SIZE)
        if size == SIZES[1]:
            # An extra small thread that sorts between the neighbour and the large thread.
            thread_id, ids = await seed_thread(store, ctx, SIZES[0])
            cases.append(Case(BELOW_LARGE, ctx, thread_id, ids, (FIRST,)))
        thread_id, ids = await seed_thread(store, ctx, size)
        cases.append(Case(f"{size:,} items", ctx, thread_id, ids, PAGES))
    seeded = counter.take()
    total = sum(SIZES) + SIZES[0] + NEIGHBOUR_SIZE * len(SIZES)
    print(
        f"seeded {total:,} items in {time.perf_counter() - started:.1f} s "
        f"({ops_summary(seeded.calls, 1)} calls)"
    )
    return await measure(store, cases, counter, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=0, help="default: 40 (moto: 5)")
    args = parser.parse_args(argv)
    with dynamodb_backend() as backend:
        # moto walks the whole partition on every Query: fewer repeats keep the run short.
        repeats = args.repeats or (5 if backend.is_moto else 40)
        print(f"DynamoDB backend: {backend.label} at {backend.endpoint}")
        samples = asyncio.run(run(repeats, backend.endpoint))
    report(samples, backend.label, repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
