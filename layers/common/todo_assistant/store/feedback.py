"""Feedback on a thread's items (thumbs up or down, ChatKit's `items.feedback`): one row per
item under the thread's key prefix, so deleting or expiring the thread removes it too."""

from __future__ import annotations

from todo_assistant.db import keys
from todo_assistant.db.keys import sortable_time, user_pk
from todo_assistant.db.table import FeedbackRow, ThreadRow
from todo_assistant.ids import is_safe_id
from todo_assistant.store.rows import StoreRows, require_safe, utc_now


def save_feedback_rows(
    rows: StoreRows, thread_id: str, item_ids: list[str], feedback: str, user_id: str
) -> int:
    """Record `feedback` on those of `item_ids` that are items of the user's own thread;
    returns how many it applied to."""
    require_safe(thread_id, *item_ids)
    pk = user_pk(user_id)
    rows.get(ThreadRow, user_id, keys.thread_sk(thread_id), thread_id)
    # The same id twice is one piece of feedback (BatchWriteItem refuses duplicate keys).
    wanted = list(dict.fromkeys(item_ids))
    existing = rows.existing_item_ids(user_id, thread_id, wanted)
    now = sortable_time(utc_now())
    applied = 0
    with FeedbackRow.batch_write() as batch:
        for item_id in wanted:
            if item_id not in existing:
                continue
            batch.save(
                FeedbackRow(
                    pk,
                    keys.feedback_sk(thread_id, item_id),
                    item_id=item_id,
                    feedback=feedback,
                    created_at=now,
                )
            )
            applied += 1
    return applied


def load_feedback_rows(thread_id: str, user_id: str) -> dict[str, str]:
    """Feedback of the user's thread's items, by item id."""
    if not is_safe_id(thread_id):
        return {}
    found = FeedbackRow.query(
        user_pk(user_id), FeedbackRow.sk.startswith(keys.feedback_prefix(thread_id))
    )
    return {row.item_id: row.feedback for row in found if isinstance(row, FeedbackRow)}
