"""The attack suite's world: the real apps over loopback HTTP in AUTH_MODE=oidc (as deployed),
an identity provider with real keys, a victim A who owns data and an attacker B.

Every attack request a test sends is counted; the count is printed at the end of the run
("security cases tried: N").
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from chatkit.types import FileAttachment

from tests.conftest import bound_settings
from tests.e2e.conftest import Stack, start_stack
from tests.support.oidc import IdentityProvider, oidc_overrides, run_identity_provider
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.db.keys import user_pk
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import bind_table
from todo_assistant_dev.chat_client import add_message_request, create_thread_request


class CaseCounter:
    def __init__(self) -> None:
        self.count = 0

    def tried(self, n: int = 1) -> None:
        self.count += n


CASES = CaseCounter()
NO_RATE_LIMITS = {
    "rate_limit_turns_per_minute": 0,
    "rate_limit_turns_per_day": 0,
    "rate_limit_api_per_minute": 0,
    "rate_limit_api_per_day": 0,
}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CASES.count:
        terminalreporter.write_sep("-", "security")
        terminalreporter.write_line(f"security cases tried: {CASES.count}")


@pytest.fixture
def cases() -> CaseCounter:
    return CASES


@dataclass
class User:
    id: str
    app_token: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class Targets:
    """Ids a request can name. A's real ones, or fresh ones of the same shape nobody owns."""

    thread: str
    user_item: str
    assistant_item: str
    attachment: str
    task: int
    own_thread: str  # the attacker's own thread (the same in both sets)
    widget_item: str = ""  # A's task list widget, whose buttons B must not press

    def ids(self) -> list[str]:
        ids = [self.thread, self.user_item, self.assistant_item, self.attachment]
        return [*ids, self.widget_item] if self.widget_item else ids


@dataclass
class World:
    stack: Stack
    idp: IdentityProvider
    http: httpx.Client
    a: User
    b: User
    a_targets: Targets
    a_texts: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def base(self) -> str:
        return self.stack.base_url

    def sign_in(self, user_id: str) -> User:
        app_token = self.idp.token(user_id)
        response = self.http.post(
            f"{self.base}/session", headers={"Authorization": f"Bearer {app_token}"}
        )
        assert response.status_code == 200, response.text
        return User(user_id, app_token, response.json()["client_secret"])

    def chatkit(self, user: User | None, payload: Any, **headers: str) -> httpx.Response:
        """POST /chatkit and read the whole answer (JSON or an SSE stream)."""
        auth = user.auth if user else {}
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.http.post(
            f"{self.base}/chatkit",
            content=body,
            headers={"content-type": "application/json", **auth, **headers},
        )

    def snapshot(self, *users: User) -> dict[str, list[dict[str, Any]]]:
        """Every attribute of every row in these users' partitions, straight from DynamoDB."""
        return {user.id: partition_items(self.settings, user.id) for user in users}


def partition_items(settings: Settings, user: str) -> list[dict[str, Any]]:
    client = boto3.client(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.aws_region
    )
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": settings.table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": user_pk(user)}},
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def fresh_user_id(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def idp() -> Iterator[IdentityProvider]:
    with run_identity_provider() as provider:
        yield provider


@pytest.fixture(scope="session")
def oidc_stack(moto_endpoint: str, idp: IdentityProvider) -> Iterator[Stack]:
    # The attacker sends far more requests than a person would: rate limits off here (they
    # are attacked in test_me.py and tests/e2e/test_limits_and_lifecycle.py).
    settings = bound_settings(moto_endpoint, moto_endpoint, **oidc_overrides(idp), **NO_RATE_LIMITS)
    yield from start_stack(settings, LocalTodoModel())


@pytest.fixture(scope="session")
def world(oidc_stack: Stack, idp: IdentityProvider) -> Iterator[World]:
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
        placeholder = User("", "", "")
        empty = Targets("", "", "", "", 0, "")
        world = World(oidc_stack, idp, http, placeholder, placeholder, empty)
        world.a = world.sign_in(fresh_user_id("victim"))
        world.b = world.sign_in(fresh_user_id("attacker"))
        a, b = world.a, world.b

        texts = ["Add a task to buy milk for the secret recipe", "Show me all my tasks"]
        created = sse_events(world.chatkit(a, create_thread_request(texts[0])))
        thread = next(e["thread"]["id"] for e in created if e["type"] == "thread.created")
        sse_events(world.chatkit(a, add_message_request(thread, texts[1])))
        task = http.post(f"{world.base}/tasks", json={"title": "Call the bank"}, headers=a.auth)
        assert task.status_code == 201
        items = world.chatkit(
            a, {"type": "items.list", "params": {"thread_id": thread, "order": "asc"}}
        ).json()["data"]
        user_item = next(i["id"] for i in items if i["type"] == "user_message")
        assistant_item = next(i["id"] for i in items if i["type"] == "assistant_message")
        widget_item = next(
            i["id"] for i in items if i["type"] == "widget" and "task-list" in str(i)
        )
        # A's thread ends on a client tool call waiting for A's browser to answer.
        paused = sse_events(world.chatkit(a, add_message_request(thread, "Select task 1")))
        assert any(e.get("item", {}).get("type") == "client_tool_call" for e in paused)
        feedback = {"thread_id": thread, "item_ids": [assistant_item], "kind": "positive"}
        assert world.chatkit(a, {"type": "items.feedback", "params": feedback}).status_code == 200
        attachment = f"atc_{uuid.uuid4().hex}"
        asyncio.run(
            build_store(world.settings).save_attachment(
                FileAttachment(id=attachment, name="statement.pdf", mime_type="application/pdf"),
                context=RequestContext(user_id=a.id),
            )
        )
        own = sse_events(world.chatkit(b, create_thread_request("hello")))
        own_thread = next(e["thread"]["id"] for e in own if e["type"] == "thread.created")

        world.a_targets = Targets(
            thread=thread,
            user_item=user_item,
            assistant_item=assistant_item,
            attachment=attachment,
            task=task.json()["number"],
            own_thread=own_thread,
            widget_item=widget_item,
        )
        world.a_texts = [texts[0], "secret recipe", "Call the bank", "statement.pdf"]
        kinds = {row.get("kind", {}).get("S") for row in partition_items(world.settings, a.id)}
        assert {"thread", "item", "task", "attachment", "feedback"} <= kinds
        yield world


@pytest.fixture(autouse=True)
def _table_bound_to_the_world(request: pytest.FixtureRequest) -> None:
    # pynamodb's table binding is process-wide and other tests rebind it: the long-lived
    # world stack must find its own table whatever ran before.
    if "world" in request.fixturenames:
        bind_table(request.getfixturevalue("world").settings)
