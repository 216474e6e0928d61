"""Retry (`threads.retry_after_item`) over HTTP never repeats what the tools changed.

The local model makes the same tool call again when a message is answered again; the effects
ledger (agent/effects.py) replays the recorded result instead of changing the tasks twice. The
database is checked, not just the text.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import OpenAIStack, Stack
from todo_assistant.agent.effects import EffectsRecord
from todo_assistant.context import RequestContext
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.chat_client import add_message_request, create_thread_request

pytestmark = pytest.mark.e2e


class Chat:
    """One signed-in user talking to the stack over HTTP."""

    def __init__(self, http: httpx.AsyncClient, stack: Stack | OpenAIStack, user: str) -> None:
        self.http, self.stack, self.user = http, stack, user
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> Chat:
        response = await self.http.post(
            f"{self.stack.base_url}/session", json={"user_id": self.user}
        )
        self.headers = {
            "Authorization": f"Bearer {response.raise_for_status().json()['client_secret']}"
        }
        return self

    async def post(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            f"{self.stack.base_url}/chatkit", json=payload, headers=self.headers
        )

    async def turn(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        response = await self.post(payload)
        assert response.status_code == 200, response.text
        return [
            json.loads(block.removeprefix("data: "))
            for block in response.text.split("\n\n")
            if block.strip()
        ]

    async def say(self, text: str, thread_id: str | None = None) -> tuple[str, str, list]:
        """(thread id, user message id, events) of one new message."""
        payload = add_message_request(thread_id, text) if thread_id else create_thread_request(text)
        events = await self.turn(payload)
        created = [e["thread"]["id"] for e in events if e["type"] == "thread.created"]
        message = next(
            e["item"]["id"]
            for e in events
            if e["type"] == "thread.item.done" and e["item"]["type"] == "user_message"
        )
        return (created[0] if created else thread_id or ""), message, events

    async def retry(self, thread_id: str, message_id: str) -> list[dict[str, Any]]:
        return await self.turn(retry_request(thread_id, message_id))

    async def tasks(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.stack.base_url}/tasks", headers=self.headers)
        return list(response.raise_for_status().json()["tasks"])

    async def task(self, number: int) -> dict[str, Any]:
        response = await self.http.get(
            f"{self.stack.base_url}/tasks/{number}", headers=self.headers
        )
        return dict(response.raise_for_status().json())

    async def items(self, thread_id: str) -> list[dict[str, Any]]:
        page = await self.post(
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
        )
        return list(page.raise_for_status().json()["data"])

    async def ledger(self, thread_id: str, message_id: str) -> EffectsRecord:
        store = build_store(self.stack.settings)
        stored = await store.load_effects(thread_id, message_id, RequestContext(self.user))
        return EffectsRecord.model_validate_json(stored) if stored else EffectsRecord()


def retry_request(thread_id: str, message_id: str) -> dict[str, Any]:
    return {
        "type": "threads.retry_after_item",
        "params": {"thread_id": thread_id, "item_id": message_id},
    }


def answer(events: list[dict[str, Any]]) -> str:
    return " ".join(
        "".join(part["text"] for part in e["item"]["content"])
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )


def effects(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["action"] for e in events if e["type"] == "client_effect"]


def cards(events: list[dict[str, Any]]) -> list[str]:
    """The headings of the task cards a stream showed."""
    return [
        e["item"]["copy_text"].split(":")[0]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "widget"
    ]


def shown(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (i["type"], "".join(c.get("text", "") for c in i.get("content", [])))
        if i["type"] != "widget"
        else ("widget", i["copy_text"].split(":")[0])
        for i in items
    ]


@pytest.fixture
async def chat(http: httpx.AsyncClient, stack: Stack, user_id: str) -> Chat:
    return await Chat(http, stack, user_id).sign_in()


async def test_retrying_an_add_leaves_exactly_one_task(chat: Chat):
    thread_id, message_id, events = await chat.say("Add a task to water the plants")
    assert answer(events) == "Added task #1: Water the plants."
    assert effects(events) == ["created"]

    for _ in range(2):  # Retry, then Retry again
        events = await chat.retry(thread_id, message_id)
        assert not [e for e in events if e["type"] == "error"]
        # The answer and its card are the same; nothing changed, so no tasks_changed effect.
        assert answer(events) == "Added task #1: Water the plants."
        assert cards(events) == ["Task added"]
        assert effects(events) == []
        assert [(t["number"], t["title"]) for t in await chat.tasks()] == [(1, "Water the plants")]
    assert shown(await chat.items(thread_id)) == [
        ("user_message", "Add a task to water the plants"),
        ("widget", "Task added"),
        ("assistant_message", "Added task #1: Water the plants."),
    ]
    record = await chat.ledger(thread_id, message_id)
    assert [(c.tool, c.occurrence, c.change) for c in record.calls] == [
        ("add_task", 0, "added task #1 “Water the plants”")
    ]


async def test_retrying_a_completion_completes_once(chat: Chat):
    thread_id, _, _ = await chat.say("Add a task to water the plants")
    _, message_id, events = await chat.say("Mark task 1 as complete", thread_id)
    assert answer(events) == "Completed task #1: Water the plants."
    assert effects(events) == ["completed"]
    completed = await chat.task(1)

    events = await chat.retry(thread_id, message_id)
    # The recorded answer, not "already completed": this message did complete it.
    assert answer(events) == "Completed task #1: Water the plants."
    assert effects(events) == []
    assert await chat.task(1) == completed  # the same completion, the same completed_at
    record = await chat.ledger(thread_id, message_id)
    assert [c.change for c in record.calls] == ["completed task #1 “Water the plants”"]


@pytest.mark.parametrize(
    ("request_text", "reply", "card", "remaining"),
    [
        ("Rename task 1 to call mom", "Updated task #1: call mom.", "Task updated", ["call mom"]),
        ("Delete task 1", "Deleted task #1: Water the plants.", "Task deleted", []),
    ],
    ids=["update", "delete"],
)
async def test_retrying_an_update_or_a_delete_changes_nothing_twice(
    chat: Chat, request_text: str, reply: str, card: str, remaining: list[str]
):
    thread_id, _, _ = await chat.say("Add a task to water the plants")
    _, message_id, events = await chat.say(request_text, thread_id)
    assert answer(events) == reply
    after_first = await chat.tasks()

    events = await chat.retry(thread_id, message_id)
    # A delete retried without the ledger would answer "There is no task #1".
    assert answer(events) == reply
    assert cards(events) == [card]
    assert effects(events) == []
    assert await chat.tasks() == after_first  # updated_at included: not written again
    assert [t["title"] for t in after_first] == remaining
    assert len((await chat.ledger(thread_id, message_id)).calls) == 1


async def test_the_same_request_in_a_new_message_is_carried_out(chat: Chat):
    thread_id, first, _ = await chat.say("Add a task to water the plants")
    _, second, events = await chat.say("Add a task to water the plants", thread_id)
    # The ledger belongs to one message: asking again is a new request, not a retry.
    assert answer(events) == "Added task #2: Water the plants."
    assert [t["number"] for t in await chat.tasks()] == [1, 2]
    assert len((await chat.ledger(thread_id, first)).calls) == 1
    assert len((await chat.ledger(thread_id, second)).calls) == 1


async def test_a_message_that_changed_nothing_is_answered_afresh(chat: Chat):
    thread_id, message_id, events = await chat.say("Mark task 1 as complete")
    assert answer(events) == "There is no task #1."
    assert (await chat.ledger(thread_id, message_id)).calls == []
    await chat.say("Add a task to water the plants", thread_id)
    # Retrying the first message (which drops the later exchange) now completes the task:
    # only changes are recorded, and there was none.
    events = await chat.retry(thread_id, message_id)
    assert answer(events) == "Completed task #1: Water the plants."
    assert effects(events) == ["completed"]


async def test_another_user_cannot_retry_your_message(
    chat: Chat, http: httpx.AsyncClient, stack: Stack, user_id: str
):
    thread_id, message_id, _ = await chat.say("Add a task to water the plants")
    before = await chat.ledger(thread_id, message_id)
    bob = await Chat(http, stack, f"{user_id}-bob").sign_in()
    refused = await bob.post(retry_request(thread_id, message_id))
    assert refused.status_code == 404
    assert refused.json()["error"] == "not_found"
    # Nothing changed for either user: no task, no record, no item.
    assert await bob.tasks() == []
    assert (await bob.ledger(thread_id, message_id)).calls == []
    assert [t["number"] for t in await chat.tasks()] == [1]
    assert await chat.ledger(thread_id, message_id) == before
    assert len(await chat.items(thread_id)) == 3
