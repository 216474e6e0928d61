"""A turn's opening write: the user's message, its thread moved to the top of the user's list
(or created, for a new thread), the rows the request staged meanwhile, and the turn's rate
limit, all in one TransactWriteItems, so a turn starts whole or not at all.

The rate limit is reached through `TurnCounter` (store/base.py): the counter updates ride in
this transaction, and a cancelled transaction that ran into a limit raises its refusal.
"""

from __future__ import annotations

from chatkit.store import NotFoundError
from chatkit.types import ThreadItem, ThreadMetadata
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from todo_assistant.db import keys
from todo_assistant.db.keys import user_pk
from todo_assistant.db.table import ThreadRow
from todo_assistant.store.base import TurnCounter
from todo_assistant.store.rows import StoreRows, connection, require_safe, utc_now


def write_opening(
    rows: StoreRows,
    thread_id: str,
    item: ThreadItem,
    new_thread: ThreadMetadata | None,
    staged: list[tuple[str, ThreadItem]],
    effects: dict[tuple[str, str], str],
    user_id: str,
    limiter: TurnCounter | None = None,
) -> None:
    """Write the opening transaction; a missing thread (or one created twice) is NotFound."""
    require_safe(thread_id, item.id)
    now = utc_now()
    planned: list[object] = []
    try:
        # The message id as the request token: DynamoDB applies a transaction retried
        # after a timeout once, not twice (the SDK's own retries included).
        with TransactWrite(
            connection=connection(), client_request_token=item.id[:36]
        ) as transaction:
            if limiter is not None:
                planned = limiter.add_to(transaction, user_id)
            if new_thread is not None:
                transaction.save(
                    rows.thread_row(new_thread, user_id),
                    condition=ThreadRow.sk.does_not_exist(),
                )
            else:
                transaction.update(
                    ThreadRow(user_pk(user_id), keys.thread_sk(thread_id)),
                    actions=rows.thread_touch_actions(thread_id, now),
                    condition=ThreadRow.sk.exists(),
                )
            transaction.save(rows.item_row(thread_id, item, user_id))
            for staged_thread, staged_item in staged:
                transaction.save(rows.item_row(staged_thread, staged_item, user_id))
            for (effects_thread, message_id), record in effects.items():
                transaction.save(rows.effects_row(effects_thread, message_id, record, user_id))
    except TransactWriteError as error:
        if limiter is not None and (refused := limiter.refusal(error, planned)) is not None:
            raise refused from None
        # Otherwise the thread's is the only condition: missing (updating) or already
        # there (creating), this user has no such thread to add a first message to.
        reasons = error.cancellation_reasons or []
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons):
            raise NotFoundError(f"{thread_id} not found") from None
        raise
