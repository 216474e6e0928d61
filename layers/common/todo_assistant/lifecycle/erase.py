"""`DELETE /me`: erase every row in the caller's partition and every S3 object of theirs.

The partition is read keys-only, a Query page at a time, and each page is deleted in
BatchWriteItem calls before the next page is read, so memory stays flat for any amount of
data. Then every version of every object under the user's S3 prefix goes (the bucket is
versioned: deleting only the current version would leave recoverable copies behind).

Idempotent by construction: it deletes whatever is still there. A failure part-way leaves a
subset of the data and the caller repeats the request; the repeat deletes the rest and
answers with what it deleted itself. A turn running while the user erases can write after
the erase passed; the answer then counts what was there, and another DELETE removes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.connection import Connection

from todo_assistant.db import keys
from todo_assistant.db.table import TableRow

# Rows per Query page, and keys per DeleteObjects call (the API's maximum).
QUERY_PAGE_ROWS = 500
_S3_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class ErasedCounts:
    rows: int
    objects: int


class UserEraser:
    def __init__(self, bucket: str | None, s3: Any | None) -> None:
        self._bucket = bucket
        self._s3 = s3

    def erase(self, user_id: str) -> ErasedCounts:
        return ErasedCounts(rows=self.erase_rows(user_id), objects=self.erase_objects(user_id))

    def erase_rows(self, user_id: str) -> int:
        connection: Connection = TableRow._get_connection().connection
        table = TableRow.Meta.table_name
        pk = keys.user_pk(user_id)
        deleted = 0
        start: dict[str, Any] | None = None
        while True:
            page = connection.query(
                table,
                pk,
                exclusive_start_key=start,
                limit=QUERY_PAGE_ROWS,
                attributes_to_get=["pk", "sk"],
                consistent_read=True,
            )
            row_keys = [(item["pk"]["S"], item["sk"]["S"]) for item in page.get("Items", [])]
            with TableRow.batch_write() as batch:  # 25 keys per call, unprocessed keys retried
                for hash_key, range_key in row_keys:
                    batch.delete(TableRow(hash_key, range_key))
            deleted += len(row_keys)
            start = page.get("LastEvaluatedKey")
            if not start:
                return deleted

    def erase_objects(self, user_id: str) -> int:
        if self._s3 is None or self._bucket is None:
            return 0
        prefix = keys.user_object_prefix(user_id)
        deleted = 0
        paginator = self._s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            versions = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                # A prefix match only: never another user's keys (the prefix ends with "/").
                if v["Key"].startswith(prefix)
            ]
            for start in range(0, len(versions), _S3_BATCH):
                chunk = versions[start : start + _S3_BATCH]
                answer = self._s3.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": chunk, "Quiet": True}
                )
                if answer.get("Errors"):
                    # Quiet mode reports only failures; the caller repeats the erase.
                    raise RuntimeError(f"{len(answer['Errors'])} objects could not be deleted")
            # Count objects, not versions or delete markers.
            deleted += len({v["Key"] for v in page.get("Versions", [])})
        return deleted
