"""One signed-in user talking to a stack over HTTP, and what its streams and threads showed."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.e2e import OpenAIStack, Stack
from todo_assistant.agent.effects import EffectsRecord
from todo_assistant.context import RequestContext
from todo_assistant.wiring.chatkit import build_store
from todo_assistant_dev.chat_client import add_message_request, create_thread_request


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
