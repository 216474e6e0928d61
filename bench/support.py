"""What the benchmarks share: a DynamoDB to run on, a call counter, a live server, statistics."""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from todo_assistant.config import Settings
from todo_assistant.db.table import ROW_CLASSES
from todo_assistant_dev.stack import embedded_moto

ROOT = Path(__file__).resolve().parents[1]
DEV_KEY = "dev-insecure-bench-signing-key-0123456789abcdef"


# -- DynamoDB -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DynamoBackend:
    label: str
    endpoint: str
    is_moto: bool


@contextmanager
def dynamodb_backend() -> Iterator[DynamoBackend]:
    """DynamoDB Local (AWS's emulator) when installed, else the embedded moto server.

    DynamoDB Local is preferred: its per-call latency is closer to the service's shape and,
    unlike moto, a Query does not walk the whole partition. BENCH_DYNAMODB=moto forces moto.
    """
    if os.environ.get("BENCH_DYNAMODB", "").lower() != "moto":
        from todo_assistant_dev.dynamodb_local import find_dynamodb_local_dir, run_dynamodb_local

        jar_dir = find_dynamodb_local_dir(ROOT)
        if jar_dir is not None:
            with run_dynamodb_local(jar_dir) as endpoint:
                yield DynamoBackend("DynamoDB Local", endpoint, is_moto=False)
            return
    # moto's werkzeug server logs every request to stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with embedded_moto() as endpoint:
        yield DynamoBackend("moto server", endpoint, is_moto=True)


def bench_settings(dynamodb_endpoint: str, table_name: str = "todo-assistant-bench") -> Settings:
    return Settings(
        table_name=table_name,
        dynamodb_endpoint=dynamodb_endpoint,
        auth_mode="dev",
        token_signing_key=DEV_KEY,  # type: ignore[arg-type]
        model_provider="local",
        local_model_delay_ms=0,
        log_level="WARNING",
        # The limiter runs (its calls are counted) but never refuses a benchmark's turns.
        rate_limit_turns_per_minute=1_000_000,
        rate_limit_turns_per_day=1_000_000,
        rate_limit_api_per_minute=1_000_000,
        rate_limit_api_per_day=1_000_000,
    )


@dataclass
class CallStats:
    """DynamoDB API calls seen by botocore since the last reset, by operation."""

    calls: Counter[str] = field(default_factory=Counter)
    # Rows DynamoDB evaluated (ScannedCount) per operation: what a Query really read.
    rows_read: Counter[str] = field(default_factory=Counter)
    bytes_in: Counter[str] = field(default_factory=Counter)
    # Capacity units DynamoDB reported (ReturnConsumedCapacity), what on-demand bills.
    read_units: float = 0.0
    write_units: float = 0.0
    # (start, end) perf_counter seconds of each call: how long the caller waited on DynamoDB.
    spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def add(self, other: CallStats) -> None:
        self.calls.update(other.calls)
        self.rows_read.update(other.rows_read)
        self.bytes_in.update(other.bytes_in)
        self.read_units += other.read_units
        self.write_units += other.write_units
        self.spans += other.spans

    def waited_ms(self, until: float | None = None) -> float:
        """Milliseconds during which at least one call was in flight (overlapping calls count
        once), up to `until` (a perf_counter time) when given."""
        waited, reached = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            if until is not None:
                end = min(end, until)
            start = max(start, reached)
            if end > start:
                waited += end - start
                reached = end
        return waited * 1000


# Operations that can report the capacity they consumed, and which kind of unit they use.
_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
_WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
}
# On-demand prices, us-east-1 (USD per million request units).
PRICE_PER_MILLION_READS = 0.125
PRICE_PER_MILLION_WRITES = 0.625


def consumed_units(parsed: Any) -> float:
    consumed = parsed.get("ConsumedCapacity") if isinstance(parsed, dict) else None
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))


def _ask_for_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
    if model.name in _READS | _WRITES:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")


class DynamoCallCounter:
    """Counts and times DynamoDB calls with botocore's `before-call`/`after-call` events.

    The hook goes on the botocore client of every row class (`bind_table` makes them share
    one; each distinct client is hooked once). Install it after the last `bind_table`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = CallStats()
        # botocore calls run on worker threads; each thread has at most one in flight.
        self._started = threading.local()

    def install(self) -> None:
        seen: set[int] = set()
        for cls in ROW_CLASSES:
            client = cls._get_connection().connection.client
            if id(client) not in seen:
                seen.add(id(client))
                client.meta.events.register("before-call.dynamodb", self._on_start)
                client.meta.events.register("after-call.dynamodb", self._on_call)
                client.meta.events.register("provide-client-params.dynamodb", _ask_for_capacity)

    def _on_start(self, **_: Any) -> None:
        self._started.at = time.perf_counter()

    def _on_call(self, http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        ended = time.perf_counter()
        started = getattr(self._started, "at", ended)
        name = str(model.name)
        size = len(http_response.content or b"") if http_response is not None else 0
        scanned = int(parsed.get("ScannedCount", 0)) if isinstance(parsed, dict) else 0
        units = consumed_units(parsed)
        with self._lock:
            self._stats.calls[name] += 1
            self._stats.spans.append((started, ended))
            self._stats.rows_read[name] += scanned
            self._stats.bytes_in[name] += size
            if name in _READS:
                self._stats.read_units += units
            else:
                self._stats.write_units += units

    def take(self) -> CallStats:
        """The calls since the previous take (and start counting afresh)."""
        with self._lock:
            stats, self._stats = self._stats, CallStats()
        return stats


# -- figures ------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        # First column left-aligned (labels), figures right-aligned.
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


def ops_summary(calls: Counter[str], turns: int) -> str:
    """`GetItem 1.0, PutItem 3.2`: calls per unit of work, by operation."""
    if not turns or not calls:
        return "-"
    return ", ".join(f"{op} {count / turns:.1f}" for op, count in sorted(calls.items()))
