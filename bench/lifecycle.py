"""Export and erase of a big user: how large a 10,000-item export is, how many DynamoDB calls
and how long it takes, and the same for erasing it.

A buffered Lambda response is capped at 6 MB; this is the figure that decided that
`GET /me/export` answers with a link to a document in S3 instead of the document itself.

    python -m bench.lifecycle [--items 10000] [--long-every 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import boto3

from bench.items_list import make_item
from bench.support import DynamoCallCounter, bench_settings, dynamodb_backend, print_table
from todo_assistant.context import RequestContext
from todo_assistant.db.payloads import PayloadCodec, S3BlobStore
from todo_assistant.db.table import ItemRow, create_table_if_missing
from todo_assistant.ids import new_id
from todo_assistant.lifecycle.erase import UserEraser
from todo_assistant.lifecycle.export import UserExporter
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import bind_table, s3_client
from todo_assistant_dev.stack import embedded_moto

BUCKET = "todo-assistant-bench-lifecycle"
CAP = 6 * 1024 * 1024
# A long answer (a list of tasks, a plan): what makes real exports bigger than chit-chat.
LONG = "Here is your plan for the week. " * 60


async def run(items: int, long_every: int) -> None:
    from datetime import datetime, timedelta

    from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata

    with embedded_moto() as s3_endpoint, dynamodb_backend() as backend:
        settings = bench_settings(backend.endpoint, "todo-assistant-lifecycle").model_copy(
            update={"s3_endpoint": s3_endpoint, "large_item_bucket": BUCKET}
        )
        bind_table(settings)
        create_table_if_missing()
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        store = build_store(settings)
        user = f"bench-{uuid.uuid4().hex[:8]}"
        ctx = RequestContext(user)
        thread = ThreadMetadata(id=new_id("thr"), title="big", created_at=datetime.now())
        await store.save_thread(thread, ctx)
        start = datetime.now() - timedelta(seconds=items)
        rows = []
        for i in range(items):
            item = make_item(thread.id, i, start + timedelta(milliseconds=i))
            if long_every and i % long_every == 1:
                item = AssistantMessageItem(
                    id=item.id,
                    thread_id=thread.id,
                    created_at=item.created_at,
                    content=[AssistantMessageContent(text=LONG)],
                )
            rows.append(store.item_row(thread.id, item, user))
        with ItemRow.batch_write() as batch:
            for row in rows:
                batch.save(row)

        s3 = s3_client(settings)
        counter = DynamoCallCounter()
        counter.install()
        exporter = UserExporter(PayloadCodec(S3BlobStore(BUCKET, s3)), s3, BUCKET, 900)
        began = time.perf_counter()
        link = exporter.export(user)
        export_s = time.perf_counter() - began
        export_calls = counter.take()
        began = time.perf_counter()
        erased = UserEraser(BUCKET, s3).erase(user)
        erase_s = time.perf_counter() - began
        erase_calls = counter.take()

    print(f"{backend.label}, one user with {items:,} items (every {long_every}th a long answer)")
    print_table(
        ["operation", "result", "DynamoDB calls", "seconds"],
        [
            [
                "GET /me/export",
                f"{link.bytes / 1024 / 1024:.1f} MB JSON ({link.bytes / CAP:.1f}x the 6 MB cap)",
                ", ".join(f"{k} {v}" for k, v in sorted(export_calls.calls.items())),
                f"{export_s:.1f}",
            ],
            [
                "DELETE /me",
                f"{erased.rows:,} rows, {erased.objects} objects",
                ", ".join(f"{k} {v}" for k, v in sorted(erase_calls.calls.items())),
                f"{erase_s:.1f}",
            ],
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--long-every", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.items, args.long_every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
