"""Capture everything the process logs: the Powertools JSON lines exactly as they would reach
CloudWatch, and every record of every standard logger (with its arguments and extras)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import cast

from todo_assistant.observability import logger as app_logger

# Third-party loggers a request path touches, captured at INFO (what a deployment would emit).
THIRD_PARTY = (
    "chatkit",
    "openai",
    "agents",
    "openai.agents",
    "botocore",
    "boto3",
    "pynamodb",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "httpx",
    "httpcore",
    "mangum",
    "urllib3",
    "aws_lambda_powertools",
)


class _Collector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        exc = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.sink.append(f"{record.name} {text} {exc} {record.__dict__!r}")


@dataclass
class CapturedLogs:
    records: list[str] = field(default_factory=list)
    powertools: io.StringIO = field(default_factory=io.StringIO)

    @property
    def text(self) -> str:
        return self.powertools.getvalue() + "\n".join(self.records)


@contextmanager
def captured_logs() -> Iterator[CapturedLogs]:
    captured = CapturedLogs()
    collector = _Collector(captured.records)
    stream_handler = cast(logging.StreamHandler[io.StringIO], app_logger.registered_handler)
    old_stream = stream_handler.setStream(captured.powertools)

    named = [logging.getLogger(name) for name in THIRD_PARTY]
    own = logging.getLogger(app_logger.service)
    targets = [logging.getLogger(), own, *named]
    saved = [(lg, lg.level) for lg in targets]
    for lg in named:
        lg.setLevel(logging.INFO)
    logging.getLogger().setLevel(logging.INFO)
    own.setLevel(logging.DEBUG)
    for lg in targets:
        lg.addHandler(collector)
    try:
        yield captured
    finally:
        for lg in targets:
            lg.removeHandler(collector)
        for lg, level in saved:
            lg.setLevel(level)
        stream_handler.setStream(old_stream)  # type: ignore[arg-type]
