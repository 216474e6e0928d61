"""Thread retention: untouched threads expire through DynamoDB TTL, then get cleaned up.

With THREAD_RETENTION_DAYS = N > 0 every write or touch of a thread's META row sets
`expires_at` = now + N days, so using a thread (a new message, a rename) pushes its expiry
back. DynamoDB's TTL deletes the META row some time after that moment (typically within a
few days; expired rows stay readable until then, and the store keeps serving them). The
thread's other rows (items, feedback, tool effects, stop request) carry no TTL of their own:
giving each item the thread's expiry would mean rewriting every item whenever the thread is
touched. Instead the TTL deletion of the META row appears on the table's stream, and the
cleanup function (`handle_stream`) deletes what remains under the thread's key prefix, the
attachments its messages reference and their S3 objects. Tasks never expire.

Why a stream and not S3 lifecycle rules: objects of an expired thread (offloaded payloads,
attachment bytes) have no age that tells their thread's fate, and the DynamoDB rows need the
cleanup anyway; one function handles both, scoped to the one user and thread in the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from todo_assistant.db import keys
from todo_assistant.db.payloads import PayloadCodec
from todo_assistant.db.table import AttachmentRow, ItemRow, TableRow
from todo_assistant.ids import is_safe_id
from todo_assistant.observability import logger

# Who deletes an item when its TTL passes (AWS documents this userIdentity for TTL deletions).
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


@dataclass(frozen=True, slots=True)
class ExpiredThread:
    user_id: str
    thread_id: str


def expired_threads(event: Mapping[str, Any]) -> list[tuple[str, ExpiredThread]]:
    """The thread META rows that TTL removed, as (stream sequence number, thread).

    Anything else on the stream (a user's own deletion, other rows) is ignored here too, even
    though the event source's filter already lets only TTL removals of META rows through.
    """
    found = []
    for record in event.get("Records", ()):
        identity = record.get("userIdentity") or {}
        if record.get("eventName") != "REMOVE" or identity.get("principalId") != TTL_PRINCIPAL:
            continue
        stream = record.get("dynamodb") or {}
        row_keys = stream.get("Keys") or {}
        user_id = keys.user_id_of(row_keys.get("pk", {}).get("S", ""))
        thread_id = keys.thread_id_of(row_keys.get("sk", {}).get("S", ""))
        if user_id and thread_id:
            found.append((str(stream.get("SequenceNumber", "")), ExpiredThread(user_id, thread_id)))
    return found


@dataclass
class CleanupCounts:
    rows: int = 0
    objects: int = 0


class ExpiredThreadCleanup:
    """Deletes what is left of an expired thread. Idempotent: a repeat finds less or nothing."""

    def __init__(self, codec: PayloadCodec) -> None:
        self._codec = codec

    def purge(self, thread: ExpiredThread) -> CleanupCounts:
        pk = keys.user_pk(thread.user_id)
        doomed: list[TableRow] = []
        objects = [keys.thread_payload_object_key(thread.user_id, thread.thread_id)]
        attachment_ids: set[str] = set()
        # One prefix Query: the thread's items, feedback, tool effects and stop request.
        for row in TableRow.query(pk, TableRow.sk.startswith(keys.thread_prefix(thread.thread_id))):
            doomed.append(row)
            s3_key = getattr(row, "s3_key", None)
            if s3_key:
                objects.append(s3_key)
            if isinstance(row, ItemRow) and row.item_type == "user_message":
                attachment_ids.update(self._attachment_ids(row))
        for attachment_id in sorted(attachment_ids):
            doomed.append(AttachmentRow(pk, keys.attachment_sk(attachment_id)))
            objects.append(keys.attachment_object_key(thread.user_id, attachment_id))
            objects.append(keys.payload_object_key(thread.user_id, f"attachments/{attachment_id}"))
        with TableRow.batch_write() as batch:  # 25 keys per call, unprocessed keys retried
            for row in doomed:
                batch.delete(row)
        self._codec.delete_offloaded(objects)
        return CleanupCounts(rows=len(doomed), objects=len(objects))

    def _attachment_ids(self, row: ItemRow) -> Iterable[str]:
        item = json.loads(self._codec.decode(row.encoding, row.body, row.s3_key))
        for attachment in item.get("attachments") or ():
            attachment_id = attachment.get("id") if isinstance(attachment, dict) else None
            if isinstance(attachment_id, str) and is_safe_id(attachment_id):
                yield attachment_id


def handle_stream(event: Mapping[str, Any], cleanup: ExpiredThreadCleanup) -> dict[str, Any]:
    """A DynamoDB stream batch -> partial batch response (ReportBatchItemFailures).

    Records are handled in order; on the first failure the rest is reported failed so Lambda
    retries from there (the cleanup is idempotent, so records before it may repeat safely).
    """
    failures: list[dict[str, str]] = []
    for sequence, thread in expired_threads(event):
        if failures:
            failures.append({"itemIdentifier": sequence})
            continue
        try:
            counts = cleanup.purge(thread)
        except Exception:
            logger.exception("expired thread cleanup failed", extra={"thread_id": thread.thread_id})
            failures.append({"itemIdentifier": sequence})
            continue
        logger.info(
            "expired thread cleaned up",
            extra={"thread_id": thread.thread_id, "rows": counts.rows, "objects": counts.objects},
        )
    return {"batchItemFailures": failures}
