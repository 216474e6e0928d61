"""The test table behind a fault proxy (todo_assistant_dev/faults.py): a test schedules which
DynamoDB requests fail, and how, with `proxy.fail_next(...)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.settings import bound_settings
from todo_assistant.config import Settings
from todo_assistant.wiring.shared import bind_table
from todo_assistant_dev.faults import FaultProxy


@contextmanager
def faulty_table(direct: Settings, *, retries: int = 0) -> Iterator[tuple[FaultProxy, Settings]]:
    """Yields the proxy and settings bound through it (`retries`: botocore's retries); the
    direct binding is restored afterwards."""
    assert direct.dynamodb_endpoint is not None
    proxy = FaultProxy(direct.dynamodb_endpoint, fraction=0.0)
    with proxy.running() as proxy_url:
        settings = bound_settings(
            proxy_url,
            direct.s3_endpoint or "",
            table_name=direct.table_name,
            dynamodb_max_retry_attempts=retries,
        )
        try:
            yield proxy, settings
        finally:
            bind_table(direct)
