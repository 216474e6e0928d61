"""Client tools over HTTP: the turn pauses on a pending `client_tool_call` item, the browser
answers with `threads.add_client_tool_output`, and the model goes on from there."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import httpx
import pytest

from tests.support.chat import assistant_text
from todo_assistant_dev import chat_cli
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    client_tool_output_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


async def signed_in(base: str, http: httpx.AsyncClient) -> ChatKitClient:
    client = ChatKitClient(base, http)
    await client.sign_in(f"user-{uuid.uuid4().hex[:12]}")
    return client


async def collect(client: ChatKitClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in client.stream(payload)]


async def thread_with_tasks(client: ChatKitClient) -> str:
    events = await collect(client, create_thread_request("Add a task to buy milk"))
    thread_id = str(events[0]["thread"]["id"])
    for text in ("Add a task to call mom", "Add a task to water the plants"):
        await collect(client, add_message_request(thread_id, text))
    return thread_id


tool_output_request = client_tool_output_request


async def items(client: ChatKitClient, thread_id: str) -> list[dict[str, Any]]:
    page = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 100, "order": "asc"}}
    )
    return list(page["data"])


@pytest.mark.parametrize(
    ("message", "name", "arguments", "answer"),
    [
        (
            "Show me only what's pending on the board",
            "show_tasks",
            {"filter": "pending"},
            "The board now shows your pending tasks.",
        ),
        ("Select task 2", "select_task", {"number": 2}, "Task #2 is selected on the board."),
        (
            "Open task 3 for editing",
            "open_task_editor",
            {"number": 3},
            "Task #3 is open in the editor.",
        ),
    ],
)
async def test_the_turn_pauses_on_the_client_tool_and_resumes_on_its_output(
    stack, http, message, name, arguments, answer
):
    client = await signed_in(stack.base_url, http)
    thread_id = await thread_with_tasks(client)

    events = await collect(client, add_message_request(thread_id, message))
    assert not [e for e in events if e["type"] == "error"]
    progress = [e for e in events if e["type"] == "progress_update"]
    assert len(progress) == 1
    [call] = [
        e["item"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "client_tool_call"
    ]
    assert (call["name"], call["arguments"], call["status"]) == (name, arguments, "pending")
    assert events.index(progress[0]) < events.index(
        next(e for e in events if e.get("item") == call)
    )
    assert assistant_text(events) == ""  # the answer waits for the browser
    assert (await items(client, thread_id))[-1] == call

    events = await collect(client, tool_output_request(thread_id, {"ok": True}))
    assert not [e for e in events if e["type"] == "error"]
    assert assistant_text(events) == answer
    stored = next(i for i in await items(client, thread_id) if i["id"] == call["id"])
    assert (stored["status"], stored["output"]) == ("completed", {"ok": True})

    # The thread goes on as usual.
    events = await collect(client, add_message_request(thread_id, "What's pending?"))
    assert assistant_text(events) == "You have 3 pending tasks."


async def test_a_task_that_is_not_the_callers_never_reaches_the_browser(stack, http):
    owner = await signed_in(stack.base_url, http)
    await thread_with_tasks(owner)  # task #3 exists, but not for the caller below
    client = await signed_in(stack.base_url, http)
    events = await collect(client, create_thread_request("Add a task to buy milk"))
    thread_id = events[0]["thread"]["id"]
    for message in ("Select task 3", "Open task 3 for editing"):
        events = await collect(client, add_message_request(thread_id, message))
        assert assistant_text(events) == "There is no task #3."
        assert not [e for e in events if e.get("item", {}).get("type") == "client_tool_call"]
    assert not [i for i in await items(client, thread_id) if i["type"] == "client_tool_call"]


async def test_an_output_nobody_asked_for_is_not_found_and_writes_nothing(stack, http):
    client = await signed_in(stack.base_url, http)
    thread_id = await thread_with_tasks(client)
    before = await items(client, thread_id)

    response = await http.post(
        f"{stack.base_url}/chatkit",
        json=tool_output_request(thread_id, {"ok": True}),
        headers={"Authorization": f"Bearer {client.client_secret}"},
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "No client tool call is waiting for an answer in this thread.",
    }
    assert await items(client, thread_id) == before

    # Answered twice: the second answer finds nothing waiting.
    await collect(client, add_message_request(thread_id, "Select task 1"))
    await collect(client, tool_output_request(thread_id, {"ok": True}))
    answered = await items(client, thread_id)
    again = await http.post(
        f"{stack.base_url}/chatkit",
        json=tool_output_request(thread_id, {"ok": False}),
        headers={"Authorization": f"Bearer {client.client_secret}"},
    )
    assert again.status_code == 404
    assert await items(client, thread_id) == answered


async def test_another_users_pending_call_is_not_found(stack, http):
    owner = await signed_in(stack.base_url, http)
    thread_id = await thread_with_tasks(owner)
    await collect(owner, add_message_request(thread_id, "Select task 2"))
    before = await items(owner, thread_id)

    other = await signed_in(stack.base_url, http)
    response = await http.post(
        f"{stack.base_url}/chatkit",
        json=tool_output_request(thread_id, {"ok": True}),
        headers={"Authorization": f"Bearer {other.client_secret}"},
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert await items(owner, thread_id) == before
    # The owner can still answer it.
    events = await collect(owner, tool_output_request(thread_id, {"ok": True}))
    assert assistant_text(events) == "Task #2 is selected on the board."


async def test_a_client_that_never_answers_leaves_the_thread_usable(stack, http):
    client = await signed_in(stack.base_url, http)
    thread_id = await thread_with_tasks(client)
    await collect(client, add_message_request(thread_id, "Show completed tasks on the board"))

    # The user just types on; the unanswered call is left out of the model's input.
    events = await collect(client, add_message_request(thread_id, "Mark task 1 as complete"))
    assert not [e for e in events if e["type"] == "error"]
    assert assistant_text(events) == "Completed task #1: Buy milk."
    events = await collect(client, add_message_request(thread_id, "Select task 2"))
    events = await collect(client, tool_output_request(thread_id, {"ok": True}))
    assert assistant_text(events) == "Task #2 is selected on the board."
    kinds = [(i["type"], i.get("status")) for i in await items(client, thread_id)]
    assert kinds.count(("client_tool_call", "completed")) == 1
    # The SDK dropped the call nobody answered when the next one was answered.
    assert ("client_tool_call", "pending") not in kinds
    assert not [e for e in events if e["type"] == "error"]


async def test_the_browser_can_say_it_failed(stack, http):
    client = await signed_in(stack.base_url, http)
    thread_id = await thread_with_tasks(client)
    await collect(client, add_message_request(thread_id, "Open task 1 for editing"))
    events = await collect(
        client, tool_output_request(thread_id, {"error": "the editor is not available here"})
    )
    assert assistant_text(events) == (
        "The dashboard could not do that: the editor is not available here"
    )


async def test_the_terminal_chat_plays_the_dashboard(stack, capsys):
    user = f"user-{uuid.uuid4().hex[:12]}"
    for message in ("Add a task to buy milk", "Show me all my tasks", "Select task 1"):
        args = argparse.Namespace(url=stack.base_url, user=user, thread=None, message=message)
        assert await chat_cli.run(args) == 0
    out = capsys.readouterr().out
    assert "  … Adding task…" in out
    assert "  | [ ] #1 Buy milk (medium priority)" in out
    assert "  [dashboard: select_task {'number': 1}]" in out
    assert "assistant> Task #1 is selected on the board." in out
