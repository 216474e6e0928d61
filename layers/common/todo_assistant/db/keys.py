"""Every DynamoDB key of the table, built in one place.

One table, one partition per user: every key starts with the user id taken from a verified
token, so another user's ids are simply absent. Within a partition:

| row            | SK                                                | LSI1SK (local index `by_order`)     |
|----------------|---------------------------------------------------|-------------------------------------|
| thread         | THREAD#<thread_id>#META                           | THREADS#<updated_at>#<thread_id>    |
| item           | THREAD#<thread_id>#ITEM#<created_at>#<item_id>    | ITEMID#<thread_id>#<item_id>        |
| feedback       | THREAD#<thread_id>#FEEDBACK#<item_id>             |                                     |
| tool effects   | THREAD#<thread_id>#EFFECTS#<user_message_id>      |                                     |
| stop request   | THREAD#<thread_id>#CANCEL                         |                                     |
| attachment     | ATTACHMENT#<attachment_id>                        |                                     |
| task           | TASK#<number, zero padded to 10 digits>           |                                     |
| task counter   | COUNTER#TASK                                      |                                     |
| rate window    | LIMIT#<scope>#<window>                            |                                     |

S3 objects of a user all start with `users/<user_id>/`: offloaded payloads
(`<kind>/<ids>.json.z`), attachment bytes (`attachments/<id>`) and exports (`exports/<id>.json`).
`DELETE /me` erases the partition and that prefix; the rows that expire by TTL are rate windows,
stop requests (`store/stop_requests.py`, 15 minutes) and, with THREAD_RETENTION_DAYS, thread
META rows (the rest of an expired thread is removed by the cleanup function,
`lifecycle/retention.py`).

Why this shape:
- A thread's rows share the prefix `THREAD#<id>#`, and `META` sorts after `ITEM#`: one Query
  read backwards from `META` returns the thread and its newest items together (the start of a
  turn), and deleting a thread is one prefix Query plus batched deletes.
- Items sort by creation time in the base table itself (the ChatKit protocol orders items by
  `created_at`), so listing items never touches the index.
- The local index holds the thread list (by last update, the thread's payload projected) and,
  keys only, each item's id, to find an item whose creation time the caller does not know
  (widget actions, feedback, paging cursors). It is local, hence strongly consistent.
- Ids are limited to [A-Za-z0-9_.:-] (`ids.is_safe_id`), so `#` always separates fields and a
  prefix can never match a longer id.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Sorts after every character allowed in a key field: the upper bound of a prefix range.
PREFIX_END = "~"


def sortable_time(value: datetime) -> str:
    """Fixed-width timestamp for sort keys (`isoformat()` drops zero microseconds)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


USER_PK_PREFIX = "USER#"


def user_pk(user_id: str) -> str:
    return f"{USER_PK_PREFIX}{user_id}"


def user_id_of(pk: str) -> str | None:
    """The user id of a partition key, None for anything else."""
    return pk.removeprefix(USER_PK_PREFIX) if pk.startswith(USER_PK_PREFIX) else None


# -- threads and everything inside them ---------------------------------------------------
THREAD_PREFIX = "THREAD#"
_META = "#META"


def thread_prefix(thread_id: str) -> str:
    """Every row of one thread (metadata, items, feedback, effects, stop request)."""
    return f"{THREAD_PREFIX}{thread_id}#"


def thread_sk(thread_id: str) -> str:
    return f"{thread_prefix(thread_id)}META"


def thread_id_of(sk: str) -> str | None:
    """The thread id of a thread's META sort key, None for any other row."""
    if sk.startswith(THREAD_PREFIX) and sk.endswith(_META):
        thread_id = sk[len(THREAD_PREFIX) : -len(_META)]
        return thread_id if thread_id and "#" not in thread_id else None
    return None


def items_prefix(thread_id: str) -> str:
    return f"{thread_prefix(thread_id)}ITEM#"


def item_sk(thread_id: str, created_at: datetime, item_id: str) -> str:
    return f"{items_prefix(thread_id)}{sortable_time(created_at)}#{item_id}"


def feedback_prefix(thread_id: str) -> str:
    return f"{thread_prefix(thread_id)}FEEDBACK#"


def feedback_sk(thread_id: str, item_id: str) -> str:
    return f"{feedback_prefix(thread_id)}{item_id}"


def effects_sk(thread_id: str, user_message_id: str) -> str:
    """What the tools of one user message's turn changed (so a retry does not repeat it)."""
    return f"{thread_prefix(thread_id)}EFFECTS#{user_message_id}"


def cancel_sk(thread_id: str) -> str:
    return f"{thread_prefix(thread_id)}CANCEL"


# -- the local index ------------------------------------------------------------------------
THREADS_BY_UPDATE = "THREADS#"


def thread_order_key(thread_id: str, updated_at: datetime) -> str:
    return f"{THREADS_BY_UPDATE}{sortable_time(updated_at)}#{thread_id}"


def item_id_key(thread_id: str, item_id: str) -> str:
    return f"ITEMID#{thread_id}#{item_id}"


# -- user-level rows ------------------------------------------------------------------------
def attachment_sk(attachment_id: str) -> str:
    return f"ATTACHMENT#{attachment_id}"


ATTACHMENTS_PREFIX = "ATTACHMENT#"
TASKS_PREFIX = "TASK#"
TASK_COUNTER_SK = "COUNTER#TASK"


def task_sk(number: int) -> str:
    # Zero padding keeps the sort key order equal to the number order.
    return f"{TASKS_PREFIX}{number:010d}"


LIMITS_PREFIX = "LIMIT#"


def limit_sk(scope: str, window: str) -> str:
    """One fixed rate-limit window of one kind of request (e.g. turns per minute)."""
    return f"{LIMITS_PREFIX}{scope}#{window}"


# -- S3 objects (the large-item bucket) -----------------------------------------------------
def user_object_prefix(user_id: str) -> str:
    """Every S3 object of a user starts here (offloaded payloads, attachment bytes)."""
    return f"users/{user_id}/"


def payload_object_key(user_id: str, name: str) -> str:
    return f"{user_object_prefix(user_id)}{name}.json.z"


def attachment_object_key(user_id: str, attachment_id: str) -> str:
    return f"{user_object_prefix(user_id)}attachments/{attachment_id}"


def thread_payload_object_key(user_id: str, thread_id: str) -> str:
    """Where a thread's metadata goes if it is ever too large for its row."""
    return payload_object_key(user_id, f"threads/{thread_id}")


def export_object_key(user_id: str, export_id: str) -> str:
    """A `GET /me/export` document (short-lived; erased with the user's other objects)."""
    return f"{user_object_prefix(user_id)}exports/{export_id}.json"
