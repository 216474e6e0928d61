"""Every way the model can fail, over HTTP against the fake OpenAI server, on both APIs.

For each kind: what the client sees (one `error` event with a plain message, `allow_retry`
where trying again helps, nothing of the provider's own text), what the thread holds after a
reload, the hidden failure marker, the tasks table, and how many requests the OpenAI client
made (its own bounded retries, OPENAI_MAX_RETRIES=1 here, honouring Retry-After).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.e2e import OpenAIStack, start_openai_stack
from tests.support.fake_openai import Call, DropAfter, Fail, FakeOpenAI, Plan, Say, Stall
from tests.support.logs import CapturedLogs, captured_logs
from todo_assistant.agent.history import FAILED_TURN_NOTE, is_failed_turn_marker
from todo_assistant.chat.model_errors import FAILURES, INTERRUPTED_NOTICE
from todo_assistant.context import RequestContext
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e

LEAK = "upstream failure details that must not reach the user"
FAST_RETRY = {"retry-after-ms": "5"}  # honoured by the client instead of its own backoff


@pytest.fixture(params=["responses", "chat_completions"])
def stack(
    request: pytest.FixtureRequest, moto_endpoint: str, fake_openai: FakeOpenAI
) -> Iterator[OpenAIStack]:
    # A short timeout only where a timeout is the point: elsewhere a slow machine must not
    # turn a slow answer into one.
    case = getattr(request.node, "callspec", None) and request.node.callspec.params.get("case")
    timeout = 0.4 if case and case.kind == "timeout" else 30.0
    yield from start_openai_stack(
        moto_endpoint,
        fake_openai,
        request.param,
        openai_max_retries=1,
        openai_timeout_seconds=timeout,
    )


@dataclass(frozen=True)
class Case:
    kind: str
    plans: tuple[Plan, ...]
    requests: int  # how many the OpenAI client sent (1 + its retries when retryable)
    partial: str | None = None  # the text the client was left with, if any


GATE = threading.Event()  # the fake cuts the connection once the client has seen text
CASES = [
    Case("rate_limited", (Fail(429, headers=FAST_RETRY), Fail(429, headers=FAST_RETRY)), 2),
    Case("server_error", (Fail(500, headers=FAST_RETRY), Fail(503, headers=FAST_RETRY)), 2),
    Case("timeout", (Stall(1.5), Stall(1.5)), 2),
    Case("refused", (Fail(400, error_type="invalid_request_error"),), 1),
    Case("unavailable", (Fail(401, error_type="invalid_api_key"),), 1),
    Case(
        "connection_lost",
        (DropAfter("Sure, I will add the ta", GATE, deltas=1),),
        1,
        "Sure, I will add the ta",
    ),
]


async def run_turn(
    client: ChatKitClient, payload: dict[str, Any], seen_text: threading.Event | None = None
) -> tuple[list[dict[str, Any]], str]:
    """One streamed request; `seen_text` is set once the client has received a text delta
    (gated drops send their text in one delta: the client then has all of it)."""
    events: list[dict[str, Any]] = []
    async with client._http.stream(
        "POST",
        f"{client.base_url}/chatkit",
        json=payload,
        headers={"Authorization": f"Bearer {client.client_secret}"},
    ) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line[len("data: ") :]))
            update = events[-1].get("update", {})
            if seen_text is not None and update.get("type", "").endswith("text_delta"):
                seen_text.set()
        return events, response.headers["x-request-id"]


async def visible_items(client: ChatKitClient, thread_id: str) -> list[tuple[str, str]]:
    page = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
    )
    return [
        (i["type"], "".join(c["text"] for c in i["content"]))
        for i in page["data"]
        if i["type"] in ("user_message", "assistant_message")  # not the task widgets
    ]


async def stored_markers(stack: OpenAIStack, thread_id: str, user_id: str) -> list[dict[str, Any]]:
    store = build_store(stack.settings)
    page = await store.load_thread_items(thread_id, None, 50, "asc", RequestContext(user_id))
    return [item.content for item in page.data if is_failed_turn_marker(item)]


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
async def test_each_failure_kind(stack: OpenAIStack, http, user_id, case: Case, capsys):
    fake = stack.fake
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    fake.script(*case.plans)
    capsys.readouterr()
    with captured_logs() as logs:
        GATE.clear()
        events, request_id = await run_turn(
            client, create_thread_request("Add a task to buy milk"), GATE
        )
        # The checks make requests after the turn; by then its access line is written (it
        # is written when the response has ended, a moment after the client's last byte).
        await check_failure(stack, client, user_id, case, events)
    check_logs(logs, case, request_id)
    # The turn's metrics: counted as a failure of its kind (EMF, dimension `kind`).
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [line["kind"] for line in emf if "TurnFailures" in line] == [case.kind]


async def check_failure(
    stack: OpenAIStack,
    client: ChatKitClient,
    user_id: str,
    case: Case,
    events: list[dict[str, Any]],
) -> None:
    fake = stack.fake
    thread_id = events[0]["thread"]["id"]
    failure = FAILURES[case.kind]  # type: ignore[index]

    # The client: one error event, the plain message, retry offered where it can help.
    errors = [e for e in events if e["type"] == "error"]
    assert errors == [
        {
            "type": "error",
            "code": "custom",
            "message": failure.message,
            "allow_retry": failure.allow_retry,
        }
    ]
    assert LEAK not in json.dumps(events)
    assert len(fake.requests) == case.requests and not fake.plans

    # The thread after a reload: exactly what the client was left with.
    done = [e["item"] for e in events if e["type"] == "thread.item.done"]
    shown = [(i["type"], "".join(c.get("text", "") for c in i.get("content", []))) for i in done]
    expected = [("user_message", "Add a task to buy milk")]
    if case.partial is not None:
        expected.append(("assistant_message", case.partial + INTERRUPTED_NOTICE))
    assert shown == expected
    assert await visible_items(client, thread_id) == expected
    # Nothing half-written is left on the client either: an empty answer bubble is removed.
    added = {e["item"]["id"] for e in events if e["type"] == "thread.item.added"}
    removed = {e["item_id"] for e in events if e["type"] == "thread.item.removed"}
    finished = {i["id"] for i in done}
    assert added <= finished | removed

    markers = await stored_markers(stack, thread_id, user_id)
    assert [m["turn_failed"] for m in markers] == [case.kind]


def check_logs(logs: CapturedLogs, case: Case, request_id: str) -> None:
    # One JSON line for the operator: kind, model, the request id the client got. No
    # traceback and no other error lines (the fake's own deliberate drop aside).
    lines = [json.loads(line) for line in logs.powertools.getvalue().splitlines() if line]
    failed = [line for line in lines if line["message"] == "model turn failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "ERROR"
    assert failed[0]["kind"] == case.kind
    assert failed[0]["model"] == "gpt-test"
    assert failed[0]["request_id"] == request_id
    assert "exception" not in failed[0]
    access = [line for line in lines if line["message"] == "request"]
    turn_lines = [
        (a["status"], a.get("turn_failed")) for a in access if a["request_id"] == request_id
    ]
    assert turn_lines == [(200, case.kind)]
    assert [a for a in access if a["request_id"] != request_id and "turn_failed" in a] == []
    others = [
        record
        for record in logs.records
        if "'levelno': 40" in record
        and "model turn failed" not in record
        and "DroppedConnection" not in record
    ]
    assert others == []


async def test_a_retry_is_honoured_and_the_turn_succeeds(stack: OpenAIStack, http, user_id):
    fake = stack.fake
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    fake.script(
        Fail(429, headers=FAST_RETRY),
        Call("add_task", {"title": "Buy milk"}),
        Say("Added #1 Buy milk."),
    )
    events, _ = await run_turn(client, create_thread_request("Add a task to buy milk"))
    assert not [e for e in events if e["type"] == "error"]
    assert len(fake.requests) == 3  # the 429, its retry, the answer after the tool
    thread_id = events[0]["thread"]["id"]
    assert await visible_items(client, thread_id) == [
        ("user_message", "Add a task to buy milk"),
        ("assistant_message", "Added #1 Buy milk."),
    ]
    assert await stored_markers(stack, thread_id, user_id) == []


async def test_a_dropped_stream_after_a_tool_ran(stack: OpenAIStack, http, user_id):
    """The tool's change stands (it happened) and the thread says so; the partial answer is
    kept and marked."""
    fake = stack.fake
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    seen = threading.Event()
    fake.script(
        Call("add_task", {"title": "Buy milk"}), DropAfter("Added task #1: Bu", seen, deltas=1)
    )
    events, _ = await run_turn(client, create_thread_request("Add a task to buy milk"), seen)
    thread_id = events[0]["thread"]["id"]
    assert events[-1]["type"] == "error" or any(e["type"] == "error" for e in events)
    effects = [e for e in events if e["type"] == "client_effect"]
    assert [e["data"]["action"] for e in effects] == ["created"]
    tasks = await http.get(
        f"{stack.base_url}/tasks", headers={"Authorization": f"Bearer {client.client_secret}"}
    )
    assert [t["title"] for t in tasks.json()["tasks"]] == ["Buy milk"]
    assert await visible_items(client, thread_id) == [
        ("user_message", "Add a task to buy milk"),
        ("assistant_message", "Added task #1: Bu" + INTERRUPTED_NOTICE),
        ("assistant_message", "Before the error I added task #1 “Buy milk”."),
    ]


async def test_a_failed_request_is_not_acted_on_later(stack: OpenAIStack, http, user_id):
    fake = stack.fake
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    fake.script(Fail(400), Say("Hello! How can I help?"))
    events, _ = await run_turn(client, create_thread_request("Add a task to buy milk"))
    thread_id = events[0]["thread"]["id"]
    assert any(e["type"] == "error" for e in events)

    events, _ = await run_turn(client, add_message_request(thread_id, "Hi there"))
    assert not [e for e in events if e["type"] == "error"]
    sent = json.dumps(fake.requests[-1].body)
    assert "buy milk" not in sent  # the failed request is not in the model's history
    assert FAILED_TURN_NOTE in sent  # but the model knows something failed there
    assert "Hi there" in sent
    # The user still sees their failed message and the later exchange.
    assert await visible_items(client, thread_id) == [
        ("user_message", "Add a task to buy milk"),
        ("user_message", "Hi there"),
        ("assistant_message", "Hello! How can I help?"),
    ]


async def test_retrying_a_failed_message_carries_it_out(stack: OpenAIStack, http, user_id):
    fake = stack.fake
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    fake.script(DropAfter("Sure"))
    events, _ = await run_turn(client, create_thread_request("Add a task to buy milk"))
    thread_id = events[0]["thread"]["id"]
    user_item = next(e["item"]["id"] for e in events if e["type"] == "thread.item.done")
    assert events[-1]["type"] == "error" or any(e["type"] == "error" for e in events)

    fake.script(Call("add_task", {"title": "Buy milk"}), Say("Added task #1: Buy milk."))
    events, _ = await run_turn(
        client,
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": user_item},
        },
    )
    assert not [e for e in events if e["type"] == "error"]
    retried = json.dumps(fake.requests[-2].body)
    assert "Add a task to buy milk" in retried and FAILED_TURN_NOTE not in retried
    assert await visible_items(client, thread_id) == [
        ("user_message", "Add a task to buy milk"),
        ("assistant_message", "Added task #1: Buy milk."),
    ]
    assert await stored_markers(stack, thread_id, user_id) == []
    tasks = await http.get(
        f"{stack.base_url}/tasks", headers={"Authorization": f"Bearer {client.client_secret}"}
    )
    assert [t["title"] for t in tasks.json()["tasks"]] == ["Buy milk"]
