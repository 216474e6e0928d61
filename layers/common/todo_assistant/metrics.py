"""CloudWatch metrics as Powertools EMF lines, written once per request or chat turn.

Neither the Lambda Web Adapter (uvicorn) nor Mangum runs Powertools' `log_metrics` decorator,
so each request or turn collects its figures in its own EMF provider and flushes them when it
ends. A provider per request, rather than the module-wide `Metrics` (whose metric set every
instance shares), keeps turns that overlap in one process (the local stack, a turn finishing
after its reader left) from mixing or flushing each other's figures.

Dimensions are fixed and low-cardinality: `service`, `environment` and, for tool calls only,
the tool's name. Nothing about the user (id, message text, tokens) is ever a dimension or
metadata. `POWERTOOLS_METRICS_DISABLED=true` silences every line (the local stack's default).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit

from todo_assistant.observability import SERVICE_NAME

DEFAULT_NAMESPACE = "TodoAssistant"
# Any tool name the agent does not declare is reported as this, so a model's invention can
# never create a new metric stream.
OTHER_TOOL = "other"


class MetricsBatch:
    """Figures of one request or turn, printed as one EMF line by `flush`."""

    def __init__(self, **dimensions: str) -> None:
        # Read per batch, not at import: the local stack sets them after importing.
        namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
        environment = os.environ.get("ENVIRONMENT_NAME", "local")
        self._provider = AmazonCloudWatchEMFProvider(namespace=namespace, service=SERVICE_NAME)
        self._provider.add_dimension(name="environment", value=environment)
        for name, value in dimensions.items():
            self._provider.add_dimension(name=name, value=value)

    def count(self, name: str, value: float = 1) -> None:
        self._provider.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def milliseconds(self, name: str, value: float) -> None:
        self._provider.add_metric(
            name=name, unit=MetricUnit.Milliseconds, value=round(max(value, 0.0), 1)
        )

    def flush(self) -> None:
        # An empty flush only warns; a request that counted nothing prints nothing.
        if self._provider.metric_set:
            self._provider.flush_metrics()
            # Powertools prints; under the Web Adapter stdout is a block-buffered pipe, and a
            # line still in the buffer when the instance freezes reaches CloudWatch late.
            sys.stdout.flush()


def _elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


@dataclass
class TurnMetrics:
    """One streamed ChatKit turn: from the request to the end of its stream.

    Two parties end a turn: the task that runs it (`stream_ended`) and the response that
    sends it (`response_ended`). The line is written when both are done, so a reader that left
    early is counted as a disconnect, and the duration is the turn's own, not the reader's.
    """

    tool_names: frozenset[str] = frozenset()
    # The `x-request-id` of the request that started the turn (for log lines, never a metric).
    request_id: str | None = None
    # Why the turn failed, one of chat/model_errors.py's FAILURE_KINDS; None if it did not.
    failure: str | None = None
    started: float = field(default_factory=time.perf_counter)
    first_event_ms: float | None = None
    duration_ms: float | None = None
    errors: int = 0
    disconnected: bool = False
    # The user pressed Stop (chat/stop.py).
    was_stopped: bool = False
    tools: Counter[str] = field(default_factory=Counter)
    _open_parties: int = 2

    def first_event(self) -> None:
        if self.first_event_ms is None:
            self.first_event_ms = _elapsed_ms(self.started)

    def error(self) -> None:
        self.errors += 1

    def failed(self, kind: str) -> None:
        self.failure = kind

    def stopped(self) -> None:
        self.was_stopped = True

    def tool_called(self, name: str) -> None:
        self.tools[name if name in self.tool_names else OTHER_TOOL] += 1

    def stream_ended(self) -> None:
        if self.duration_ms is None:
            self.duration_ms = _elapsed_ms(self.started)
        self._end_party()

    def response_ended(self, *, complete: bool) -> None:
        self.disconnected = not complete
        self._end_party()

    def abandon(self) -> None:
        """The turn failed before it streamed anything: write it now."""
        self.duration_ms = _elapsed_ms(self.started)
        self._open_parties = 1
        self._end_party()

    def _end_party(self) -> None:
        self._open_parties -= 1
        if self._open_parties == 0:
            self.flush()

    def flush(self) -> None:
        batch = MetricsBatch()
        batch.count("Turns")
        batch.count("TurnErrors", self.errors)
        batch.count("ToolCalls", sum(self.tools.values()))
        batch.count("ClientDisconnects", int(self.disconnected))
        batch.count("TurnsStopped", int(self.was_stopped))
        batch.milliseconds("TurnDurationMs", self.duration_ms or _elapsed_ms(self.started))
        if self.first_event_ms is not None:
            batch.milliseconds("TimeToFirstEventMs", self.first_event_ms)
        batch.flush()
        if self.failure is not None:
            failures = MetricsBatch(kind=self.failure)
            failures.count("TurnFailures")
            failures.flush()
        # EMF gives every metric of a line the same dimensions: one line per tool.
        for tool, calls in sorted(self.tools.items()):
            per_tool = MetricsBatch(tool=tool)
            per_tool.count("ToolCalls", calls)
            per_tool.flush()


# The turn the current task belongs to. Set by the endpoint; the turn's own task and the
# agent run's task are created from that context, so the agent's hooks see it too.
_current_turn: ContextVar[TurnMetrics | None] = ContextVar("current_turn", default=None)


def start_turn(
    tool_names: frozenset[str] = frozenset(), request_id: str | None = None
) -> TurnMetrics:
    turn = TurnMetrics(tool_names=tool_names, request_id=request_id)
    _current_turn.set(turn)
    return turn


def current_turn() -> TurnMetrics | None:
    return _current_turn.get()


def request_metrics(method: str, path: str, status: int) -> MetricsBatch:
    """What one request to either app counts, by route and status (never by user)."""
    batch = MetricsBatch()
    ok = 200 <= status < 300
    if method == "POST" and path == "/session":
        if ok:
            batch.count("SessionsIssued")
        elif status == 401:
            batch.count("SignInFailures")
    elif method == "POST" and path == "/session/refresh":
        if ok:
            batch.count("SessionRefreshes")
        elif status == 401:
            batch.count("RefreshFailures")
    elif path == "/tasks" or path.startswith("/tasks/"):
        batch.count("TaskApiRequests")
    if status >= 500:
        batch.count("ServerErrors")
    return batch


# The only values of the `scope` dimension of `RateLimited` (todo_assistant/limits.py).
RATE_LIMIT_SCOPES = frozenset({"turns", "api"})


def rate_limited(scope: str) -> None:
    """One request refused by a per-user rate limit, by kind of request (never by user)."""
    batch = MetricsBatch(scope=scope if scope in RATE_LIMIT_SCOPES else OTHER_TOOL)
    batch.count("RateLimited")
    batch.flush()
