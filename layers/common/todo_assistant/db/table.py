"""The single DynamoDB table and its row types (pynamodb). Keys: `db/keys.py`.

Direct reads, upserts and deletes go by the primary key; the thread list and item-id lookups go
through the local secondary index `by_order`, which (unlike a GSI) is strongly consistent.
Nothing ever scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    DiscriminatorAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import IncludeProjection, LocalSecondaryIndex
from pynamodb.models import Model

# What the index carries besides its keys: the discriminator and the thread payload, so the
# thread list is one Query. Item rows name their payload differently, so an item's entry in
# the index is its keys only (an item write pays for a tiny index entry, not a second copy).
INDEXED_ATTRIBUTES = ["kind", "tbody", "tenc", "ts3"]


class OrderIndex(LocalSecondaryIndex["TableRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_order"
        projection = IncludeProjection(INDEXED_ATTRIBUTES)

    pk = UnicodeAttribute(hash_key=True)
    lsi1sk = UnicodeAttribute(range_key=True)


class TableRow(Model):
    class Meta:
        table_name = "todo-assistant"
        region = "us-east-1"
        billing_mode = "PAY_PER_REQUEST"
        connect_timeout_seconds = 2
        read_timeout_seconds = 5
        max_retry_attempts = 3

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    lsi1sk = UnicodeAttribute(null=True)
    kind = DiscriminatorAttribute()
    # Rows that should disappear by themselves (e.g. pending uploads) set this.
    expires_at = TTLAttribute(null=True)

    by_order = OrderIndex()


class StoredBody(TableRow):
    """A row whose payload is a serialized pydantic model, possibly compressed/offloaded."""

    body = BinaryAttribute(null=True, legacy_encoding=False)
    # "json", "json+zlib", or "s3" (then `s3_key` points at the zlib-compressed JSON).
    encoding = UnicodeAttribute(default="json")
    s3_key = UnicodeAttribute(null=True)


class ThreadRow(TableRow, discriminator="thread"):
    """A thread's metadata; its payload attributes are the ones the index projects."""

    body = BinaryAttribute(null=True, legacy_encoding=False, attr_name="tbody")
    encoding = UnicodeAttribute(default="json", attr_name="tenc")
    s3_key = UnicodeAttribute(null=True, attr_name="ts3")
    updated_at = UnicodeAttribute()


class ItemRow(StoredBody, discriminator="item"):
    item_type = UnicodeAttribute()


class AttachmentRow(StoredBody, discriminator="attachment"):
    attachment_id = UnicodeAttribute()


class FeedbackRow(TableRow, discriminator="feedback"):
    item_id = UnicodeAttribute()
    feedback = UnicodeAttribute()
    created_at = UnicodeAttribute()


class EffectsRow(StoredBody, discriminator="effects"):
    """What the tools of one user message's turn changed (`agent/effects.py`): the JSON the
    ledger wrote, so that answering the same message again does not change it twice."""


class TaskRow(TableRow, discriminator="task"):
    number = NumberAttribute()
    title = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    priority = UnicodeAttribute(default="medium")
    due_date = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="pending")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    completed_at = UnicodeAttribute(null=True)


class CounterRow(TableRow, discriminator="counter"):
    value = NumberAttribute(default=0)


class StopRow(TableRow, discriminator="stop"):
    """A thread's latest stop request (store/stop_requests.py); expires by TTL."""

    # Epoch seconds, as the instance that took the request saw it.
    requested_at = NumberAttribute()


ROW_CLASSES: tuple[type[TableRow], ...] = (
    TableRow,
    StoredBody,
    ThreadRow,
    ItemRow,
    AttachmentRow,
    FeedbackRow,
    EffectsRow,
    TaskRow,
    CounterRow,
    StopRow,
)


@dataclass(frozen=True, slots=True)
class TableBinding:
    """Which table the row classes use, where, and how patiently (wiring/ reads it from
    the configuration)."""

    table_name: str
    region: str
    endpoint: str | None = None
    connect_timeout_seconds: float = 2
    read_timeout_seconds: float = 5
    max_retry_attempts: int = 3


def bind_table(binding: TableBinding, *, reconnect: bool = False) -> None:
    """Point every row class at the table of `binding`.

    Binding again to the same table and endpoint keeps the connection (and its client): the
    builders of a process's objects each make sure the table is bound, and it is bound once.
    `reconnect` drops the connection anyway (its sockets died with a SnapStart snapshot).
    """
    meta: Any = TableRow.Meta
    if not reconnect and getattr(meta, "bound_to", None) == binding and TableRow._connection:
        return
    meta.bound_to = binding
    meta.table_name = binding.table_name
    meta.region = binding.region
    meta.host = binding.endpoint
    meta.connect_timeout_seconds = binding.connect_timeout_seconds
    meta.read_timeout_seconds = binding.read_timeout_seconds
    meta.max_retry_attempts = binding.max_retry_attempts
    for cls in ROW_CLASSES:
        cls._connection = None
    # pynamodb caches a connection (and a botocore client, ~65 ms to create) per class; the row
    # classes share one table, so they share one connection too.
    shared = TableRow._get_connection()
    for cls in ROW_CLASSES:
        cls._connection = shared


def reconnect_table() -> None:
    """Drop the row classes' connection and open a new one to the table they are bound to
    (after a SnapStart restore); unbound: nothing to do."""
    binding = getattr(TableRow.Meta, "bound_to", None)
    if isinstance(binding, TableBinding):
        bind_table(binding, reconnect=True)


def create_table_if_missing() -> None:
    """Used by the local stack and tests; in AWS the table comes from template.yaml."""
    if not TableRow.exists():
        TableRow.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
