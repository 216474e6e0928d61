"""Per-user limits, the turn deadline, export and erase, over HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.e2e import Stack, start_stack
from tests.support.settings import bound_settings
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant_dev.chat_client import add_message_request, create_thread_request

pytestmark = pytest.mark.e2e


@pytest.fixture
def limited_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(
        moto_endpoint,
        moto_endpoint,
        rate_limit_turns_per_minute=3,
        rate_limit_api_per_minute=4,
        max_message_chars=200,
    )
    yield from start_stack(settings, LocalTodoModel())


class HangingModel(LocalTodoModel):
    """Starts its answer, then never finishes it (a model that hangs mid-stream)."""

    def __init__(self) -> None:
        super().__init__(words_per_delta=1)
        self.cancelled = asyncio.Event()

    async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        deltas = 0
        async for event in super().stream_response(*args, **kwargs):
            if event.type == "response.output_text.delta":
                deltas += 1
                if deltas == 2:
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        self.cancelled.set()
                        raise
            yield event


@pytest.fixture
def deadline_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint, turn_timeout_seconds=1.0)
    yield from start_stack(settings, HangingModel())


async def sign_in(http: httpx.AsyncClient, stack: Stack, user: str) -> dict[str, str]:
    response = await http.post(f"{stack.base_url}/session", json={"user_id": user})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['client_secret']}"}


def sse(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    return [
        json.loads(block.removeprefix("data: "))
        for block in response.text.split("\n\n")
        if block.strip()
    ]


async def chatkit(
    http: httpx.AsyncClient, stack: Stack, headers: dict[str, str], payload: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{stack.base_url}/chatkit", json=payload, headers=headers)


async def threads_of(http, stack, headers) -> list[dict[str, Any]]:
    response = await chatkit(http, stack, headers, {"type": "threads.list", "params": {}})
    return list(response.json()["data"])


async def items_of(http, stack, headers, thread_id: str) -> list[dict[str, Any]]:
    params = {"thread_id": thread_id, "limit": 100, "order": "asc"}
    payload = {"type": "items.list", "params": params}
    return list((await chatkit(http, stack, headers, payload)).json()["data"])


async def test_a_flood_of_turns_gets_429_while_another_user_chats(limited_stack, http, user_id):
    stack = limited_stack
    alice = await sign_in(http, stack, user_id)
    bob = await sign_in(http, stack, f"{user_id}-bob")
    first = sse(await chatkit(http, stack, alice, create_thread_request("Add a task to a0")))
    thread_id = first[0]["thread"]["id"]
    for i in (1, 2):
        reply = await chatkit(http, stack, alice, add_message_request(thread_id, f"Add task a{i}"))
        assert reply.status_code == 200
    items_before = await items_of(http, stack, alice, thread_id)
    threads_before = await threads_of(http, stack, alice)

    for payload in (
        add_message_request(thread_id, "Add a task to a3"),
        create_thread_request("Add a task to a4"),
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": items_before[0]["id"]},
        },
    ):
        refused = await chatkit(http, stack, alice, payload)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "rate_limited" and refused.json()["message"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60

    # Nothing of the refused turns was written; reads are not turns and still work.
    assert await items_of(http, stack, alice, thread_id) == items_before
    assert await threads_of(http, stack, alice) == threads_before
    tasks = (await http.get(f"{stack.base_url}/tasks", headers=alice)).json()["tasks"]
    assert len(tasks) == 3

    # Bob is not affected by Alice's flood.
    events = sse(await chatkit(http, stack, bob, create_thread_request("Add a task to b0")))
    assert "error" not in [e["type"] for e in events]
    assert any(e["type"] == "client_effect" for e in events)


async def test_an_overlong_message_is_refused_before_anything_is_written(
    limited_stack, http, user_id
):
    headers = await sign_in(http, limited_stack, user_id)
    refused = await chatkit(http, limited_stack, headers, create_thread_request("x" * 201))
    assert refused.status_code == 400
    assert refused.json()["error"] == "message_too_long"
    assert await threads_of(http, limited_stack, headers) == []
    # Refused input does not use up the rate limit either: three turns still go through.
    for i in range(3):
        reply = await chatkit(http, limited_stack, headers, create_thread_request(f"hi {i}"))
        assert reply.status_code == 200


async def test_the_tasks_api_has_its_own_limit(limited_stack, http, user_id):
    headers = await sign_in(http, limited_stack, user_id)
    url = f"{limited_stack.base_url}/tasks"
    for i in range(4):
        created = await http.post(url, json={"title": f"t{i}"}, headers=headers)
        assert created.status_code == 201
    refused = await http.post(url, json={"title": "one too many"}, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    other = await sign_in(http, limited_stack, f"{user_id}-other")
    assert (await http.get(url, headers=other)).status_code == 200
    # The refused task was not created (checked through the store: the API itself is full).
    tasks = await limited_stack_tasks(limited_stack, user_id)
    assert sorted(t.title for t in tasks) == ["t0", "t1", "t2", "t3"]


async def limited_stack_tasks(stack: Stack, user_id: str) -> list[Any]:
    from todo_assistant.tasks.models import StatusFilter
    from todo_assistant.wiring.shared import build_task_service

    return await build_task_service(stack.settings).list(user_id, StatusFilter.ALL, None)


async def test_a_turn_past_its_deadline_stops_cleanly_and_can_be_retried(
    deadline_stack, http, user_id
):
    stack = deadline_stack
    headers = await sign_in(http, stack, user_id)
    events = sse(await chatkit(http, stack, headers, create_thread_request("hello there")))
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "error", kinds
    assert events[-1]["allow_retry"] is True and events[-1]["message"]
    model = stack.model
    assert isinstance(model, HangingModel) and model.cancelled.is_set()  # nothing runs on

    # The thread is consistent: the user's message, and what was streamed of the answer.
    thread_id = events[0]["thread"]["id"]
    items = await items_of(http, stack, headers, thread_id)
    # ChatKit's own cancellation path kept the streamed start of the answer.
    assert [i["type"] for i in items] == ["user_message", "assistant_message"]
    assert items[1]["content"][0]["text"].strip()
    # The service still answers.
    assert (await http.get(f"{stack.base_url}/healthz")).status_code == 200
    assert [t["id"] for t in await threads_of(http, stack, headers)] == [thread_id]


async def test_export_and_erase_over_http(stack, http, user_id):
    alice = await sign_in(http, stack, user_id)
    bob = await sign_in(http, stack, f"{user_id}-bob")
    for who, text in ((alice, "Add a task to buy milk"), (bob, "Add a task to call mom")):
        assert (await chatkit(http, stack, who, create_thread_request(text))).status_code == 200

    exported = await http.get(f"{stack.base_url}/me/export", headers=alice)
    assert exported.status_code == 200, exported.text
    body = exported.json()
    assert set(body) == {"download_url", "expires_at", "bytes", "counts"}
    document = (await http.get(body["download_url"])).raise_for_status().json()
    assert [t["title"] for t in document["tasks"]] == ["Buy milk"]
    assert len(document["threads"]) == 1 and body["counts"]["items"] >= 2
    assert "call mom" not in json.dumps(document).lower()

    erased = await http.delete(f"{stack.base_url}/me", headers=alice)
    assert erased.status_code == 200
    assert erased.json()["deleted"]["rows"] >= 4 and erased.json()["deleted"]["objects"] == 1
    assert await threads_of(http, stack, alice) == []
    assert (await http.get(f"{stack.base_url}/tasks", headers=alice)).json() == {"tasks": []}
    again = await http.delete(f"{stack.base_url}/me", headers=alice)
    # Only the two rate-window rows (minute, day) that the requests since then counted in.
    assert again.json()["deleted"] == {"rows": 2, "objects": 0}
    # Bob keeps everything.
    bob_tasks = (await http.get(f"{stack.base_url}/tasks", headers=bob)).json()["tasks"]
    assert [t["title"] for t in bob_tasks] == ["Call mom"]
    assert (await http.get(f"{stack.base_url}/me/export")).status_code == 401
    assert (await http.delete(f"{stack.base_url}/me")).status_code == 401
