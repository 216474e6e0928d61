"""The functions' code as Lambda runs it, outside Lambda: the environment an import sees there,
the managed runtime's SnapStart module stood in for, and functions/<directory>/app.py imported
under its own name, with the sample events in events/ run through its Mangum handler."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

from fastapi import FastAPI

from tests.support.paths import ROOT
from todo_assistant_dev.mint_secret import fill_placeholders

# Lambda's environment for a function's import, with a DynamoDB endpoint nothing answers on.
LAMBDA_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "todo-assistant-import-test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "todo-assistant-import-test",
    "LARGE_ITEM_BUCKET": "todo-assistant-import-test",
    "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://idp.example.test/",
    "OIDC_AUDIENCE": "todo-web",
    "TOKEN_SIGNING_KEY": "import-test-signing-key-0123456789abcdef",
    "MODEL_PROVIDER": "local",
    "LOG_LEVEL": "WARNING",
}


def fake_runtime_module() -> ModuleType:
    """The Lambda runtime's snapshot_restore_py (not on PyPI's path here): same two calls."""
    module = ModuleType("snapshot_restore_py")
    module.before: list[tuple[Any, ...]] = []  # type: ignore[attr-defined,misc]
    module.after: list[tuple[Any, ...]] = []  # type: ignore[attr-defined,misc]
    module.register_before_snapshot = lambda f, *a, **k: module.before.append((f, a, k)) or f  # type: ignore[attr-defined]
    module.register_after_restore = lambda f, *a, **k: module.after.append((f, a, k)) or f  # type: ignore[attr-defined]
    return module


EVENTS = ROOT / "events"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)

    def sse(self) -> list[dict[str, Any]]:
        """Mangum buffers the stream: split the body back into its SSE events."""
        assert self.headers.get("content-type", "").startswith("text/event-stream"), self.headers
        events = []
        for block in self.body.split("\n\n"):
            if block.strip():
                assert block.startswith("data: "), block[:80]
                events.append(json.loads(block[len("data: ") :]))
        return events


@dataclass
class Function:
    module: ModuleType
    used: set[str]

    @property
    def app(self) -> FastAPI:
        app: FastAPI = self.module.app
        return app

    def invoke(self, name: str, **values: str) -> Reply:
        """Run events/<function>/<name>.json through the function's Mangum `handler`."""
        path = EVENTS / self.module.FUNCTION_DIR / f"{name}.json"
        self.used.add(str(path.relative_to(EVENTS)))
        event = json.loads(fill_placeholders(path.read_text(), values))
        context = SimpleNamespace(
            aws_request_id=event["requestContext"]["requestId"],
            function_name=f"todo-assistant-test-{self.module.FUNCTION_DIR}",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:test:live",
            memory_limit_in_mb=1024,
            get_remaining_time_in_millis=lambda: 60_000,
        )
        handler: Handler = self.module.handler
        response = handler(event, context)
        assert not response.get("isBase64Encoded"), "JSON and SSE must not be base64 encoded"
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        return Reply(response["statusCode"], headers, response.get("body") or "")


def import_function(directory: str) -> ModuleType:
    """Import functions/<directory>/app.py under its own name (both files are `app`)."""
    path = ROOT / "functions" / directory / "app.py"
    spec = importlib.util.spec_from_file_location(f"deployed_{directory}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.FUNCTION_DIR = directory
    return module


def kinds_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def item_types(events: list[dict[str, Any]], event_type: str) -> list[str]:
    return [e["item"]["type"] for e in events if e["type"] == event_type]


def assert_turn(events: list[dict[str, Any]], *, creates_thread: bool) -> None:
    """One user turn: (thread.created,) the user message, then the assistant's reply."""
    kinds = kinds_of(events)
    if creates_thread:
        assert kinds[0] == "thread.created", kinds
    user_done = kinds.index("thread.item.done")
    assert events[user_done]["item"]["type"] == "user_message", events[user_done]
    added = [i for i, e in enumerate(events) if e["type"] == "thread.item.added"]
    assert added and added[0] > user_done, kinds
    assert "thread.item.updated" in kinds[added[0] :], "text arrives as deltas after added"
    assert item_types(events, "thread.item.done")[-1] == "assistant_message", kinds
    assert "error" not in kinds, events
