"""The retention function's objects, wired from `Settings` (once, at init): the cleanup of
expired threads (lifecycle/retention.py) and the handler the table's stream invokes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from todo_assistant.config import Settings, get_settings
from todo_assistant.lifecycle.retention import ExpiredThreadCleanup, handle_stream
from todo_assistant.wiring.shared import bind_table, payload_codec, s3_client


def build_cleanup(settings: Settings) -> ExpiredThreadCleanup:
    bind_table(settings)
    s3 = s3_client(settings) if settings.large_item_bucket else None
    return ExpiredThreadCleanup(payload_codec(settings, s3))


def build_stream_handler(
    settings: Settings | None = None,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """The Lambda handler of the cleanup function (built once, at init)."""
    cleanup = build_cleanup(settings or get_settings())

    def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return handle_stream(event, cleanup)

    return handler
