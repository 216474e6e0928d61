"""Retention, export and erase of a user's data, on moto and on DynamoDB Local.

moto's and DynamoDB Local's TTL never delete anything, so the retention tests delete the
expired META row themselves (what TTL does) and hand the cleanup function a stream event
shaped like a real TTL deletion (userIdentity dynamodb.amazonaws.com, KEYS_ONLY image).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from chatkit.types import FileAttachment, UserMessageItem
from pynamodb.connection import Connection

from tests.support.items import assistant_item, thread, user_item
from tests.support.partitions import partition_keys
from tests.support.settings import BUCKET
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db import keys
from todo_assistant.db.payloads import PayloadCodec, S3BlobStore
from todo_assistant.db.table import ThreadRow
from todo_assistant.ids import new_id
from todo_assistant.lifecycle import erase as erase_module
from todo_assistant.lifecycle.erase import UserEraser
from todo_assistant.lifecycle.export import UserExporter
from todo_assistant.lifecycle.retention import ExpiredThreadCleanup, handle_stream
from todo_assistant.store.dynamo import DynamoChatKitStore
from todo_assistant.tasks.models import TaskCreate
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.retention import build_cleanup
from todo_assistant.wiring.shared import build_task_service, s3_client


def ttl_removal(user_id: str, thread_id: str, sequence: str = "100") -> dict[str, Any]:
    """One DynamoDB stream record as Lambda receives it for a TTL deletion (KEYS_ONLY)."""
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "REMOVE",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": time.time(),
            "Keys": {"pk": {"S": keys.user_pk(user_id)}, "sk": {"S": keys.thread_sk(thread_id)}},
            "SequenceNumber": sequence,
            "SizeBytes": 90,
            "StreamViewType": "KEYS_ONLY",
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000",
    }


def object_keys(settings: Settings, prefix: str) -> list[str]:
    s3 = s3_client(settings)
    found = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
    return sorted(v["Key"] for v in found.get("Versions", []))


def download(url: str) -> httpx.Response:
    return httpx.get(url).raise_for_status()  # presigned: no credentials needed


def huge_text() -> str:
    # Random bytes do not compress: over the inline limit even zlib-compressed -> S3.
    return base64.b64encode(os.urandom(420_000)).decode()


async def seed_user(settings: Settings, user_id: str) -> dict[str, Any]:
    """A thread with a large item, feedback and an attachment, a second thread, and tasks."""
    store = build_store(settings)
    ctx = RequestContext(user_id=user_id)
    s3 = s3_client(settings)
    t1, t2 = thread(title="Groceries"), thread(title="Work")
    for t in (t1, t2):
        await store.save_thread(t, ctx)
    attachment = FileAttachment(id=new_id("atc"), name="list.txt", mime_type="text/plain")
    await store.save_attachment(attachment, ctx)
    s3.put_object(
        Bucket=BUCKET, Key=keys.attachment_object_key(user_id, attachment.id), Body=b"milk"
    )
    base = datetime.now()
    message = user_item(t1.id, "see the list", base)
    message = message.model_copy(update={"attachments": [attachment]})
    big = assistant_item(t1.id, huge_text(), base + timedelta(seconds=1))
    items: list[Any] = [message, big, user_item(t2.id, "call bob", base + timedelta(seconds=2))]
    for item in items:
        await store.add_thread_item(item.thread_id, item, ctx)
    await store.save_feedback(t1.id, [big.id], "positive", ctx)
    tasks = build_task_service(settings)
    await tasks.add(user_id, TaskCreate(title="Buy milk"))
    await tasks.add(user_id, TaskCreate(title="File taxes"))
    return {"threads": (t1, t2), "items": items, "attachment": attachment, "big": big}


# -- retention -------------------------------------------------------------------------------


async def test_writing_and_touching_a_thread_pushes_its_expiry(backend_settings, user_id):
    store = DynamoChatKitStore(PayloadCodec(None), thread_retention_days=30)
    ctx = RequestContext(user_id=user_id)
    t = thread()
    await store.save_thread(t, ctx)
    row = ThreadRow.get(keys.user_pk(user_id), keys.thread_sk(t.id))
    first = row.expires_at
    assert first is not None
    assert abs((first - datetime.now(UTC)) - timedelta(days=30)) < timedelta(minutes=1)

    # A new message touches the thread: its expiry moves with it. Items carry no TTL.
    await asyncio.sleep(1.1)  # TTL attributes have whole-second resolution
    message = user_item(t.id, "hello", datetime.now())
    await store.add_thread_item(t.id, message, ctx)
    touched = ThreadRow.get(keys.user_pk(user_id), keys.thread_sk(t.id)).expires_at
    assert touched is not None and touched > first
    sks = partition_keys(backend_settings, user_id)
    assert len(sks) == 2

    # Retention off: no expiry is written.
    forever = DynamoChatKitStore(PayloadCodec(None))
    kept = thread()
    await forever.save_thread(kept, ctx)
    assert ThreadRow.get(keys.user_pk(user_id), keys.thread_sk(kept.id)).expires_at is None


async def test_ttl_removal_of_a_thread_cleans_up_the_rest(backend_settings, user_id):
    seeded = await seed_user(backend_settings, user_id)
    t1, t2 = seeded["threads"]
    attachment = seeded["attachment"]
    prefix = keys.user_object_prefix(user_id)
    offloaded = [k for k in object_keys(backend_settings, prefix) if "/items/" in k]
    assert offloaded, "the large item went to S3"
    other_user = f"other-{uuid.uuid4().hex[:8]}"
    await seed_user(backend_settings, other_user)
    before_other = sorted(partition_keys(backend_settings, other_user))

    # TTL deletes the META row; the stream hands the function that deletion.
    ThreadRow(keys.user_pk(user_id), keys.thread_sk(t1.id)).delete()
    cleanup = build_cleanup(backend_settings)
    user_delete = ttl_removal(user_id, t2.id, "101")
    user_delete["userIdentity"] = None  # the user's own deletion: never cleaned up here
    event = {"Records": [ttl_removal(user_id, t1.id), user_delete]}
    assert handle_stream(event, cleanup) == {"batchItemFailures": []}

    left = partition_keys(backend_settings, user_id)
    assert not [sk for sk in left if sk.startswith(keys.thread_prefix(t1.id))]
    assert keys.attachment_sk(attachment.id) not in left
    # The other thread and the tasks stay: tasks never expire.
    assert keys.thread_sk(t2.id) in left
    assert len([sk for sk in left if sk.startswith(keys.TASKS_PREFIX)]) == 2
    remaining_objects = object_keys(backend_settings, prefix)
    assert not set(offloaded) & set(remaining_objects)
    assert keys.attachment_object_key(user_id, attachment.id) not in remaining_objects
    assert sorted(partition_keys(backend_settings, other_user)) == before_other

    # Delivered again (Lambda retries batches): nothing left to do, no error.
    assert handle_stream(event, cleanup) == {"batchItemFailures": []}


def test_a_failed_record_and_those_after_it_are_reported_for_retry(moto_settings, user_id):
    class Failing(ExpiredThreadCleanup):
        def purge(self, thread):  # type: ignore[no-untyped-def]
            if thread.thread_id == "thr_bad":
                raise RuntimeError("S3 down")
            return super().purge(thread)

    event = {
        "Records": [
            ttl_removal(user_id, "thr_ok", "1"),
            ttl_removal(user_id, "thr_bad", "2"),
            ttl_removal(user_id, "thr_later", "3"),
        ]
    }
    answer = handle_stream(event, Failing(PayloadCodec(None)))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}


# -- export ----------------------------------------------------------------------------------


def exporter(settings: Settings) -> UserExporter:
    s3 = s3_client(settings)
    return UserExporter(PayloadCodec(S3BlobStore(BUCKET, s3)), s3, BUCKET, 300)


async def test_export_holds_everything_the_user_owns_and_nothing_else(backend_settings, user_id):
    seeded = await seed_user(backend_settings, user_id)
    other_user = f"other-{uuid.uuid4().hex[:8]}"
    await seed_user(backend_settings, other_user)

    link = exporter(backend_settings).export(user_id)
    assert link.download_url.startswith(backend_settings.s3_endpoint or "")
    response = download(link.download_url)
    assert link.bytes == len(response.content)
    document = response.json()

    assert document["user_id"] == user_id and document["format"].startswith("todo-assistant")
    assert sorted(t["title"] for t in document["tasks"]) == ["Buy milk", "File taxes"]
    t1, t2 = seeded["threads"]
    threads = {t["id"]: t for t in document["threads"]}
    assert set(threads) == {t1.id, t2.id}
    assert threads[t1.id]["thread"]["title"] == "Groceries"
    items = threads[t1.id]["items"]
    assert [i["id"] for i in items] == [seeded["items"][0].id, seeded["big"].id]
    # The large item is resolved from S3, whole.
    assert items[1]["content"][0]["text"] == seeded["big"].content[0].text
    assert UserMessageItem.model_validate(items[0]).attachments[0].id == seeded["attachment"].id
    assert threads[t1.id]["feedback"] == {seeded["big"].id: "positive"}
    [attachment] = document["attachments"]
    assert attachment["id"] == seeded["attachment"].id
    assert download(attachment["download_url"]).content == b"milk"
    assert document["counts"] == {
        "threads": 2,
        "items": 3,
        "tasks": 2,
        "feedback": 1,
        "attachments": 1,
    }
    assert link.counts.items == 3
    # Nothing of the other user's.
    assert other_user not in json.dumps(document)
    # The document itself sits under the user's own prefix (erased with the rest).
    assert keys.user_object_prefix(user_id) + "exports/" in link.download_url


async def test_export_of_an_empty_user_is_a_valid_document(backend_settings, user_id):
    link = exporter(backend_settings).export(user_id)
    document = download(link.download_url).json()
    assert (document["threads"], document["tasks"], document["attachments"]) == ([], [], [])


# -- erase -----------------------------------------------------------------------------------


def eraser(settings: Settings) -> UserEraser:
    return UserEraser(BUCKET, s3_client(settings))


async def test_erase_removes_every_row_and_object_and_is_idempotent(backend_settings, user_id):
    await seed_user(backend_settings, user_id)
    other_user = f"other-{uuid.uuid4().hex[:8]}"
    await seed_user(backend_settings, other_user)
    exporter(backend_settings).export(user_id)  # an export object too
    rows = len(partition_keys(backend_settings, user_id))
    objects = len(object_keys(backend_settings, keys.user_object_prefix(user_id)))
    other_before = sorted(partition_keys(backend_settings, other_user))
    other_objects = object_keys(backend_settings, keys.user_object_prefix(other_user))

    erased = eraser(backend_settings).erase(user_id)
    assert (erased.rows, erased.objects) == (rows, objects)
    assert partition_keys(backend_settings, user_id) == []
    s3 = s3_client(backend_settings)
    left = s3.list_object_versions(Bucket=BUCKET, Prefix=keys.user_object_prefix(user_id))
    assert not left.get("Versions") and not left.get("DeleteMarkers")

    again = eraser(backend_settings).erase(user_id)
    assert (again.rows, again.objects) == (0, 0)
    assert sorted(partition_keys(backend_settings, other_user)) == other_before
    assert object_keys(backend_settings, keys.user_object_prefix(other_user)) == other_objects


async def test_erase_after_a_failure_midway_finishes_the_job(
    backend_settings, user_id, monkeypatch
):
    seeded = await seed_user(backend_settings, user_id)
    store = build_store(backend_settings)
    ctx = RequestContext(user_id=user_id)
    t1 = seeded["threads"][0]
    for i in range(30):
        await store.add_thread_item(t1.id, user_item(t1.id, f"m{i}", datetime.now()), ctx)
    total = len(partition_keys(backend_settings, user_id))
    monkeypatch.setattr(erase_module, "QUERY_PAGE_ROWS", 10)

    # First attempt: DynamoDB fails on the second page.
    real_query = Connection.query
    pages = {"n": 0}

    def flaky_query(self: Connection, *args: Any, **kwargs: Any) -> Any:
        pages["n"] += 1
        if pages["n"] == 2:
            raise RuntimeError("connection dropped")
        return real_query(self, *args, **kwargs)

    monkeypatch.setattr(Connection, "query", flaky_query)
    with pytest.raises(RuntimeError):
        eraser(backend_settings).erase(user_id)
    monkeypatch.setattr(Connection, "query", real_query)
    after_first = len(partition_keys(backend_settings, user_id))
    assert after_first == total - 10

    # Second attempt: the rows go, then S3 fails.
    class BrokenS3:
        def __init__(self, real: Any) -> None:
            self._real = real

        def get_paginator(self, name: str) -> Any:
            return self._real.get_paginator(name)

        def delete_objects(self, **kwargs: Any) -> Any:
            raise RuntimeError("S3 unavailable")

    with pytest.raises(RuntimeError):
        UserEraser(BUCKET, BrokenS3(s3_client(backend_settings))).erase(user_id)
    assert partition_keys(backend_settings, user_id) == []
    assert object_keys(backend_settings, keys.user_object_prefix(user_id))

    # Third attempt: what is left goes; the end state is clean.
    final = eraser(backend_settings).erase(user_id)
    assert final.rows == 0 and final.objects >= 1
    assert partition_keys(backend_settings, user_id) == []
    assert object_keys(backend_settings, keys.user_object_prefix(user_id)) == []
