"""Per-user rate limits: fixed-window counters in the user's own DynamoDB partition.

Each kind of request (`scope`: chat turns, tasks API calls) has up to two windows, a minute and
a day. A request adds 1 to the counter row of each current window (`keys.limit_sk`) under the
condition that the count is still below the limit; both updates go out in ONE
TransactWriteItems request, so either both windows count the request or neither does, and a
refused request leaves nothing behind. The rows carry `expires_at` (TTL) a little after their
window ends, so they vanish by themselves.

The updates are added to a caller's `TransactWrite` by `RateLimiter.add_to`, and
`RateLimiter.refusal` recognises a cancelled transaction as "rate limited": the first write of
a turn can absorb the check and save a request. `RateLimiter.check` runs them on their own.

Why no extra table: the counters are per user, like every other row, so they share the
partition (and `DELETE /me` erases them with everything else); a fixed window costs one
conditional update per window and never a read.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from todo_assistant.db import keys
from todo_assistant.db.table import CounterRow
from todo_assistant.errors import Refusal
from todo_assistant.metrics import rate_limited

Scope = Literal["turns", "api"]
SCOPES: tuple[Scope, ...] = ("turns", "api")

# Counter rows outlive their window by this much (TTL deletes within about two days anyway).
_EXPIRY_SLACK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Window:
    name: Literal["minute", "day"]
    seconds: int
    limit: int


@dataclass(frozen=True, slots=True)
class PlannedWindow:
    """One window's counter update of one request: where it goes and when the window ends."""

    window: Window
    sort_key: str
    ends_at: float


class RateLimited(Refusal):
    """Answered 429 with `Retry-After: retry_after` seconds (the end of the full window)."""

    def __init__(self, scope: Scope, window: str, retry_after: int) -> None:
        what = "messages" if scope == "turns" else "requests"
        super().__init__(
            429,
            "rate_limited",
            f"Too many {what} this {window}; try again in {retry_after} seconds.",
            {"Retry-After": str(retry_after)},
        )
        self.scope = scope
        self.window = window
        self.retry_after = retry_after


class RateLimiter:
    def __init__(
        self,
        scope: Scope,
        *,
        per_minute: int,
        per_day: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scope = scope
        self.windows = tuple(
            window
            for window in (Window("minute", 60, per_minute), Window("day", 86_400, per_day))
            if window.limit > 0
        )
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.windows)

    def plan(self, now: float | None = None) -> list[PlannedWindow]:
        now = self._clock() if now is None else now
        planned = []
        for window in self.windows:
            start = int(now // window.seconds) * window.seconds
            planned.append(
                PlannedWindow(
                    window=window,
                    sort_key=keys.limit_sk(self.scope, f"{window.name}-{start}"),
                    ends_at=float(start + window.seconds),
                )
            )
        return planned

    def add_to(self, transaction: TransactWrite, user_id: str) -> list[PlannedWindow]:
        """Add this request's counter updates to `transaction`; pass the result to `refusal`."""
        planned = self.plan()
        for window in planned:
            expires = datetime.fromtimestamp(window.ends_at + _EXPIRY_SLACK_SECONDS, UTC)
            transaction.update(
                CounterRow(keys.user_pk(user_id), window.sort_key),
                actions=[
                    CounterRow.value.add(1),
                    CounterRow.kind.set(CounterRow),
                    CounterRow.expires_at.set(expires),
                ],
                condition=(
                    CounterRow.value.does_not_exist() | (CounterRow.value < window.window.limit)
                ),
                return_values=ALL_OLD,
            )
        return planned

    def refusal(
        self, error: TransactWriteError, planned: list[PlannedWindow]
    ) -> RateLimited | None:
        """The limit a cancelled transaction ran into, if that is why it was cancelled (and
        counted on the `RateLimited` metric)."""
        by_key = {window.sort_key: window for window in planned}
        for reason in error.cancellation_reasons or ():
            if reason is None or reason.code != "ConditionalCheckFailed":
                continue
            item: dict[str, Any] = getattr(reason, "raw_item", None) or {}
            hit = by_key.get(item.get("sk", {}).get("S", ""))
            if hit is not None:
                retry_after = max(1, math.ceil(hit.ends_at - self._clock()))
                rate_limited(self.scope)
                return RateLimited(self.scope, hit.window.name, retry_after)
        return None

    def check_sync(self, user_id: str) -> None:
        """Count one request of this user; raises `RateLimited` (and writes nothing) when a
        window is full."""
        if not self.enabled:
            return
        connection: Connection = CounterRow._get_connection().connection
        planned: list[PlannedWindow] = []
        try:
            with TransactWrite(connection=connection) as transaction:
                planned = self.add_to(transaction, user_id)
        except TransactWriteError as error:
            refused = self.refusal(error, planned)
            if refused is None:
                raise
            raise refused from None

    async def check(self, user_id: str) -> None:
        if self.enabled:
            await asyncio.to_thread(self.check_sync, user_id)
