"""Stop requests: how ChatKit's Stop reaches a running turn, wherever that turn runs.

In Lambda a function never sees its reader leave, and the request that asks to stop may reach
another instance than the turn's: the two meet in the table. `POST /chatkit/cancel` writes the
thread's stop row (`keys.cancel_sk`) in the caller's own partition, so nobody can stop another
user's turn; the running turn reads that row (chat/stop.py) and stops when the request is
newer than the turn itself, so a request left over from an earlier turn never stops a later
one. One row per thread, overwritten by each request, expiring by TTL once no turn it could
concern can still be running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from chatkit.store import NotFoundError
from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from todo_assistant.db import keys
from todo_assistant.db.table import StopRow, ThreadRow
from todo_assistant.ids import is_safe_id

# Lambda's longest timeout: no turn started before a request can still run after this.
STOP_REQUEST_TTL_SECONDS = 900


class StopRequests:
    def __init__(
        self,
        *,
        ttl_seconds: int = STOP_REQUEST_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def request_sync(self, user_id: str, thread_id: str) -> float:
        """Ask the thread's running turns to stop; the time of the request (epoch seconds).

        Raises `NotFoundError`, and writes nothing, when the user has no such thread: the
        thread's existence is checked in the same transaction as the write.
        """
        if not is_safe_id(thread_id):
            raise NotFoundError(f"{thread_id!r} not found")
        now = self._clock()
        pk = keys.user_pk(user_id)
        row = StopRow(
            pk,
            keys.cancel_sk(thread_id),
            requested_at=now,
            expires_at=datetime.fromtimestamp(now + self.ttl_seconds, UTC),
        )
        connection: Connection = StopRow._get_connection().connection
        try:
            with TransactWrite(connection=connection) as transaction:
                transaction.condition_check(
                    ThreadRow, pk, keys.thread_sk(thread_id), condition=ThreadRow.sk.exists()
                )
                transaction.save(row)
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise NotFoundError(f"{thread_id} not found") from None
            raise
        return now

    async def request(self, user_id: str, thread_id: str) -> float:
        return await asyncio.to_thread(self.request_sync, user_id, thread_id)

    def requested_at_sync(self, user_id: str, thread_id: str) -> float | None:
        """When the thread's latest stop request was made, None if there is none. Strongly
        consistent: a request written a moment ago by another instance is seen."""
        try:
            row = StopRow.get(
                keys.user_pk(user_id), keys.cancel_sk(thread_id), consistent_read=True
            )
        except DoesNotExist:
            return None
        return float(row.requested_at) if isinstance(row, StopRow) else None

    async def requested_at(self, user_id: str, thread_id: str) -> float | None:
        return await asyncio.to_thread(self.requested_at_sync, user_id, thread_id)
