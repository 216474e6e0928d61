"""Count the DynamoDB API calls pynamodb makes (its post-send signal; needs blinker)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.signals import post_dynamodb_send


@contextmanager
def count_dynamodb_calls() -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def record(sender: Any, operation_name: str, **_: Any) -> None:
        with lock:
            calls[operation_name] += 1

    post_dynamodb_send.connect(record)
    try:
        yield calls
    finally:
        post_dynamodb_send.disconnect(record)
