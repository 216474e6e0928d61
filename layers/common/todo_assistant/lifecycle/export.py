"""`GET /me/export`: everything the caller owns, as one JSON document behind a download link.

Size: a buffered Lambda response is capped at 6 MB, and a user's data is not (10,000 chat
items of a few hundred bytes to several KB each are 5-40 MB of JSON; bench/lifecycle.py
measures it). So the document is never the response body: it is written, a Query page of the
user's partition at a time, into a temporary file (spilling to /tmp past 8 MB), uploaded to
the user's own S3 prefix and answered with a short-lived presigned GET link, its size and
counts. Memory stays bounded by one thread's feedback and one Query page; the link works for
`EXPORT_LINK_SECONDS`; the object is erased with the user's other objects by `DELETE /me`
(and by the bucket's lifecycle for old versions).

The partition's sort keys order rows as attachments, counters, rate windows, tasks, then each
thread's rows (effects, feedback, items, META last). The document follows that order:
{"format", "user_id", "exported_at", "attachments": [...], "tasks": [...],
 "threads": [{"id", "items": [...], "feedback": {item_id: kind}, "thread": {...}}], "counts"}.
Internal bookkeeping (counters, rate windows, tool-effect records, stop requests) is left out.
Large items are resolved through the payload codec (decompressed, or read back from S3).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from todo_assistant.db import keys
from todo_assistant.db.payloads import PayloadCodec
from todo_assistant.db.table import (
    AttachmentRow,
    FeedbackRow,
    ItemRow,
    TableRow,
    TaskRow,
    ThreadRow,
)
from todo_assistant.ids import new_id
from todo_assistant.tasks.repository import _from_row as task_from_row

FORMAT = "todo-assistant-export/1"
QUERY_PAGE_ROWS = 500
_SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class ExportCounts:
    threads: int = 0
    items: int = 0
    tasks: int = 0
    feedback: int = 0
    attachments: int = 0


@dataclass(frozen=True, slots=True)
class ExportLink:
    download_url: str
    expires_at: int
    bytes: int
    counts: ExportCounts = field(default_factory=ExportCounts)


class _Writer:
    """Writes the document as rows arrive, keeping only the open thread's feedback."""

    def __init__(self, out: IO[bytes], codec: PayloadCodec, links: _AttachmentLinks) -> None:
        self._out = out
        self._codec = codec
        self._links = links
        self.counts = ExportCounts()
        self._section: str | None = None
        self._first_in_list = True
        self._thread: str | None = None
        self._thread_feedback: dict[str, str] = {}
        self._first_item = True
        self._thread_done = False

    def write(self, text: str) -> None:
        self._out.write(text.encode())

    def start(self, user_id: str) -> None:
        self.write("{")
        self.write(f'"format":{json.dumps(FORMAT)},"user_id":{json.dumps(user_id)},')
        self.write(f'"exported_at":{json.dumps(datetime.now(UTC).isoformat())}')
        self._enter("attachments")

    def _enter(self, section: str) -> None:
        """Close the open list and open `section`'s (sections come in sort-key order)."""
        order = ["attachments", "tasks", "threads"]
        while self._section != section:
            if self._section is not None:
                self._close_thread()
                self.write("]")
            self._section = order[order.index(self._section) + 1] if self._section else order[0]
            self.write(f',"{self._section}":[')
            self._first_in_list = True

    def _element(self, text: str) -> None:
        self.write(text if self._first_in_list else "," + text)
        self._first_in_list = False

    def row(self, row: TableRow) -> None:
        if isinstance(row, AttachmentRow):
            attachment = json.loads(self._decode(row))
            attachment["download_url"] = self._links.url(row.attachment_id)
            self._enter("attachments")
            self._element(json.dumps(attachment))
            self.counts.attachments += 1
        elif isinstance(row, TaskRow):
            self._enter("tasks")
            self._element(task_from_row(row).model_dump_json())
            self.counts.tasks += 1
        elif isinstance(row, ItemRow | FeedbackRow | ThreadRow):
            self._enter("threads")
            self._thread_row(row)

    def _thread_row(self, row: ItemRow | FeedbackRow | ThreadRow) -> None:
        thread_id = str(row.sk).removeprefix(keys.THREAD_PREFIX).split("#", 1)[0]
        if thread_id != self._thread:
            self._close_thread()
            self._element(f'{{"id":{json.dumps(thread_id)},"items":[')
            self._thread, self._first_item = thread_id, True
        if isinstance(row, FeedbackRow):
            self._thread_feedback[row.item_id] = row.feedback
            self.counts.feedback += 1
        elif isinstance(row, ItemRow):
            body = self._decode(row).decode()
            self.write(body if self._first_item else "," + body)
            self._first_item = False
            self.counts.items += 1
        else:
            self.write(f'],"thread":{self._decode(row).decode()}')
            self.counts.threads += 1
            self._thread_done = True

    def _close_thread(self) -> None:
        if self._thread is None:
            return
        if not self._thread_done:
            self.write('],"thread":null')  # items whose thread row is gone (being deleted)
        self.write(f',"feedback":{json.dumps(self._thread_feedback)}}}')
        self._thread, self._thread_feedback, self._thread_done = None, {}, False

    def finish(self) -> None:
        self._enter("threads")
        self._close_thread()
        self.write("]")
        self.write(f',"counts":{json.dumps(self.counts.__dict__)}}}')

    def _decode(self, row: Any) -> bytes:
        return self._codec.decode(row.encoding, row.body, row.s3_key)


class _AttachmentLinks:
    def __init__(self, s3: Any, bucket: str, user_id: str, seconds: int) -> None:
        self._s3, self._bucket, self._user_id, self._seconds = s3, bucket, user_id, seconds

    def url(self, attachment_id: str) -> str:
        key = keys.attachment_object_key(self._user_id, attachment_id)
        return str(
            self._s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": key},
                ExpiresIn=self._seconds,
            )
        )


class UserExporter:
    def __init__(self, codec: PayloadCodec, s3: Any, bucket: str, link_seconds: int) -> None:
        self._codec = codec
        self._s3 = s3
        self._bucket = bucket
        self._link_seconds = link_seconds

    def write_document(self, user_id: str, out: IO[bytes]) -> ExportCounts:
        links = _AttachmentLinks(self._s3, self._bucket, user_id, self._link_seconds)
        writer = _Writer(out, self._codec, links)
        writer.start(user_id)
        # pynamodb pages the Query (QUERY_PAGE_ROWS rows a request) as it is iterated.
        for row in TableRow.query(keys.user_pk(user_id), page_size=QUERY_PAGE_ROWS):
            writer.row(row)
        writer.finish()
        return writer.counts

    def export(self, user_id: str) -> ExportLink:
        key = keys.export_object_key(user_id, new_id("exp"))
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as out:
            counts = self.write_document(user_id, out)
            size = out.tell()
            out.seek(0)
            self._s3.upload_fileobj(
                out,
                self._bucket,
                key,
                ExtraArgs={
                    "ContentType": "application/json",
                    "ContentDisposition": 'attachment; filename="todo-assistant-export.json"',
                },
            )
        expires_at = int(datetime.now(UTC).timestamp()) + self._link_seconds
        url = self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=self._link_seconds,
        )
        return ExportLink(download_url=str(url), expires_at=expires_at, bytes=size, counts=counts)
