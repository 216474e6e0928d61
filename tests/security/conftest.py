"""The attack suite's world: the real apps over loopback HTTP in AUTH_MODE=oidc (as deployed),
an identity provider with real keys, a victim A who owns data and an attacker B.

Every attack request a test sends is counted; the count is printed at the end of the run
("security cases tried: N").
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from chatkit.types import FileAttachment

from tests.support.e2e import Stack, start_stack
from tests.support.oidc import IdentityProvider, oidc_overrides, run_identity_provider
from tests.support.partitions import partition_items
from tests.support.security import CaseCounter, Targets, User, World, fresh_user_id, sse_events
from tests.support.settings import bound_settings
from todo_assistant.context import RequestContext
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import bind_table
from todo_assistant_dev.chat_client import add_message_request, create_thread_request

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
