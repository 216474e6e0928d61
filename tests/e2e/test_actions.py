"""The task widgets' buttons over HTTP: `threads.custom_action` (streamed) and
`threads.sync_custom_action`, for the caller's own tasks only, updating the widget in place."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.chat import assistant_text, button_types, task_rows, widget_items
from tests.support.e2e import Stack, start_stack
from tests.support.settings import bound_settings
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def action_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint)
    yield from start_stack(settings, LocalTodoModel())


@dataclass
class Board:
    """A signed-in user with two tasks and the list widget that shows them."""

    client: ChatKitClient
    http: httpx.AsyncClient
    base: str
    thread_id: str
    widget: dict[str, Any]
    assistant_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client.client_secret}"}

    async def items(self) -> list[dict[str, Any]]:
        page = await self.client.request(
            {"type": "items.list", "params": {"thread_id": self.thread_id, "limit": 100}}
        )
        return list(page["data"])

    async def tasks(self) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.base}/tasks", headers=self.auth)
        return list(response.json()["tasks"])

    async def stored_widget(self) -> dict[str, Any]:
        return next(i for i in await self.items() if i["id"] == self.widget["id"])

    def action(
        self, kind: str, payload: Any, item_id: str | None = "widget", sync: bool = False
    ) -> dict[str, Any]:
        return {
            "type": "threads.sync_custom_action" if sync else "threads.custom_action",
            "params": {
                "thread_id": self.thread_id,
                "item_id": self.widget["id"] if item_id == "widget" else item_id,
                "action": {"type": kind, "payload": payload},
            },
        }

    async def press(self, kind: str, number: int) -> list[dict[str, Any]]:
        return [e async for e in self.client.stream(self.action(kind, {"number": number}))]

    async def press_sync(self, kind: str, payload: Any, **options: Any) -> httpx.Response:
        body = self.action(kind, payload, sync=True, **options)
        return await self.http.post(f"{self.base}/chatkit", json=body, headers=self.auth)

    async def say(self, text: str) -> list[dict[str, Any]]:
        return [e async for e in self.client.stream(add_message_request(self.thread_id, text))]


async def board(base: str, http: httpx.AsyncClient, user: str | None = None) -> Board:
    client = ChatKitClient(base, http)
    await client.sign_in(user or f"user-{uuid.uuid4().hex[:12]}")
    events = [e async for e in client.stream(create_thread_request("Add a task to buy milk"))]
    thread_id = events[0]["thread"]["id"]
    b = Board(client, http, base, thread_id, {}, "")
    await b.say("Add a task to call mom")
    events = await b.say("Show me all my tasks")
    [b.widget] = widget_items(events)
    b.assistant_id = next(
        e["item"]["id"]
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )
    return b


def rows_by_number(widget: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["number"]: row for row in task_rows(widget)}


async def test_complete_streamed_updates_the_widget_in_place_and_tells_the_dashboard(
    action_stack, http
):
    b = await board(action_stack.base_url, http)
    items_before = await b.items()

    events = await b.press("task.complete", 1)
    assert [e["type"] for e in events] == [
        "stream_options",
        "thread.item.replaced",
        "client_effect",
    ]
    replaced = events[1]["item"]
    assert replaced["id"] == b.widget["id"]
    rows = rows_by_number(replaced["widget"])
    assert (rows[1]["status"], button_types(replaced["widget"], 1)[0]) == (
        "Completed",
        "task.reopen",
    )
    assert rows[2]["status"] == "Pending"
    effect = events[2]
    assert effect["name"] == "tasks_changed"
    assert effect["data"]["action"] == "completed"
    assert effect["data"]["task"]["number"] == 1
    assert effect["data"]["task"]["status"] == "completed"

    assert [t["status"] for t in await b.tasks()] == ["completed", "pending"]
    # A reload shows the new state: same item, same place, nothing else added or shown.
    items_after = await b.items()
    assert [i["id"] for i in items_after] == [i["id"] for i in items_before]
    assert await b.stored_widget() == replaced

    # The click is in the thread for the agent's next turn.
    events = await b.say("What did I just click?")
    assert assistant_text(events) == (
        "You pressed Complete on task '#1 Buy milk' in a task widget; the task is now completed."
    )

    # Pressing Reopen (the button the widget now shows) turns it back.
    events = await b.press("task.reopen", 1)
    assert events[2]["data"]["action"] == "reopened"
    assert rows_by_number(events[1]["item"]["widget"])[1]["status"] == "Pending"
    assert [t["status"] for t in await b.tasks()] == ["pending", "pending"]


async def test_complete_sync_answers_the_updated_item_at_once(action_stack, http):
    b = await board(action_stack.base_url, http)
    response = await b.press_sync("task.complete", {"number": 2})
    assert response.status_code == 200, response.text
    updated = response.json()["updated_item"]
    assert updated["id"] == b.widget["id"]
    assert rows_by_number(updated["widget"])[2]["status"] == "Completed"
    assert [t["status"] for t in await b.tasks()] == ["pending", "completed"]
    assert await b.stored_widget() == updated
    events = await b.say("What did I just click?")
    assert assistant_text(events).startswith("You pressed Complete on task '#2 Call mom'")

    # A second press changes nothing more (no second record either).
    again = await b.press_sync("task.complete", {"number": 2})
    assert again.status_code == 200
    assert again.json()["updated_item"] == updated


async def test_sync_action_works_while_another_reply_streams(gated_stack, http, user_id):
    model = gated_stack.model
    model.gate.set()
    b = await board(gated_stack.base_url, http, user_id)
    model.gate.clear()
    seen: list[str] = []
    pressed: httpx.Response | None = None
    async for event in b.client.stream(add_message_request(b.thread_id, "What's pending?")):
        seen.append(event["type"])
        if event["type"] == "thread.item.updated" and pressed is None:
            # The model is held mid-answer; the button still works.
            pressed = await b.press_sync("task.complete", {"number": 1})
            model.gate.set()
    assert pressed is not None and pressed.status_code == 200, pressed
    assert rows_by_number(pressed.json()["updated_item"]["widget"])[1]["status"] == "Completed"
    assert not model.gate_timed_out
    assert "error" not in seen
    assert [t["status"] for t in await b.tasks()] == ["completed", "pending"]


async def test_delete_asks_to_confirm_in_place(action_stack, http):
    b = await board(action_stack.base_url, http)

    events = await b.press("task.delete", 1)
    assert [e["type"] for e in events] == ["stream_options", "thread.item.replaced"]
    widget = events[1]["item"]["widget"]
    assert button_types(widget, 1) == ["task.delete.confirm", "task.delete.cancel"]
    assert button_types(widget, 2)[0] == "task.complete"
    assert len(await b.tasks()) == 2  # asking deletes nothing

    events = await b.press("task.delete.cancel", 1)
    assert button_types(events[1]["item"]["widget"], 1) == [
        "task.complete",
        "task.edit",
        "task.delete",
    ]

    await b.press("task.delete", 1)
    events = await b.press("task.delete.confirm", 1)
    assert [e["type"] for e in events] == [
        "stream_options",
        "thread.item.replaced",
        "client_effect",
    ]
    rows = rows_by_number(events[1]["item"]["widget"])
    assert (rows[1]["title"], rows[1]["buttons"]) == ("#1 Buy milk", [])
    assert events[2]["data"] == {
        "action": "deleted",
        "task": {
            "number": 1,
            "title": "Buy milk",
            "description": None,
            "priority": "medium",
            "due_date": None,
            "status": "pending",
        },
    }
    assert [t["number"] for t in await b.tasks()] == [2]
    assert await b.stored_widget() == events[1]["item"]
    events = await b.say("What did I click?")
    assert "Delete (confirmed) on task '#1 Buy milk'" in assistant_text(events)


async def test_a_card_button_updates_the_card(action_stack, http):
    b = await board(action_stack.base_url, http)
    events = await b.say("Add a task to water the plants")
    [card] = widget_items(events)
    b.widget = card
    response = await b.press_sync("task.complete", {"number": 3})
    assert response.status_code == 200, response.text
    updated = response.json()["updated_item"]["widget"]
    assert updated["type"] == "Card" and updated["status"]["text"] == "Task completed"
    assert rows_by_number(updated)[3]["status"] == "Completed"
    # Only the task on the card: the card's buttons cannot reach another task.
    other = await b.press_sync("task.complete", {"number": 1})
    assert other.status_code == 400
    assert other.json()["message"] == "Task #1 is not shown in this widget."


# name -> (action type, payload, sender, HTTP status, error code, message)
REFUSALS: dict[str, tuple[str, Any, str | None, int, str, str]] = {
    "unknown action type": (
        "task.explode",
        {"number": 1},
        "widget",
        400,
        "unknown_action",
        "Unknown action type 'task.explode'.",
    ),
    "client-only action sent to the server": (
        "task.edit",
        {"number": 1},
        "widget",
        400,
        "unknown_action",
        "Unknown action type 'task.edit'.",
    ),
    "number as a string": ("task.complete", {"number": "1"}, "widget", 400, "invalid_payload", ""),
    "number as a boolean": (
        "task.complete",
        {"number": True},
        "widget",
        400,
        "invalid_payload",
        "",
    ),
    "negative number": ("task.complete", {"number": -1}, "widget", 400, "invalid_payload", ""),
    "missing number": ("task.complete", {}, "widget", 400, "invalid_payload", ""),
    "no payload": ("task.delete.confirm", None, "widget", 400, "invalid_payload", ""),
    "extra field": (
        "task.complete",
        {"number": 1, "user_id": "someone-else"},
        "widget",
        400,
        "invalid_payload",
        "",
    ),
    "task not in the widget": (
        "task.delete.confirm",
        {"number": 99},
        "widget",
        400,
        "invalid_payload",
        "Task #99 is not shown in this widget.",
    ),
    "stale button (task deleted elsewhere)": (
        "task.complete",
        {"number": 1},
        "widget",
        404,
        "task_not_found",
        "Task #1 no longer exists; it may have been deleted.",
    ),
    "no sender widget": (
        "task.complete",
        {"number": 1},
        None,
        400,
        "not_a_task_widget",
        "Task actions must be sent from a task widget.",
    ),
    "sender is not a widget": (
        "task.complete",
        {"number": 1},
        "assistant",
        400,
        "invalid_request",
        "threads.sync_custom_action requires a widget sender item",
    ),
    "another user's widget": ("task.complete", {"number": 1}, "other", 404, "not_found", ""),
    "made-up widget id": ("task.complete", {"number": 1}, "made-up", 404, "not_found", ""),
}
INVALID_PAYLOAD = 'The action needs {"number": <task number>}.'


@pytest.mark.parametrize("path", ["sync", "streamed"])
@pytest.mark.parametrize("name", list(REFUSALS))
async def test_refused_actions_change_nothing(action_stack, http, name, path):
    kind, payload, sender, status, code, message = REFUSALS[name]
    message = message or (INVALID_PAYLOAD if code == "invalid_payload" else "")
    b = await board(action_stack.base_url, http)
    item_id = {
        "widget": "widget",
        None: None,
        "assistant": b.assistant_id,
        "made-up": f"msg_{uuid.uuid4().hex}",
    }.get(sender)
    if sender == "other":
        item_id = (await board(action_stack.base_url, http)).widget["id"]
    if name.startswith("stale"):
        deleted = await http.delete(f"{b.base}/tasks/1", headers=b.auth)
        assert deleted.status_code in (200, 204)
    before = (await b.items(), await b.tasks())

    body = b.action(kind, payload, item_id, sync=path == "sync")
    response = await http.post(f"{b.base}/chatkit", json=body, headers=b.auth)

    if path == "sync" or code == "not_found":
        assert response.status_code == status, response.text
        assert response.json()["error"] == code
        if message:
            assert response.json()["message"] == message
    else:
        # Streamed: the stream opens, then one error event says what was wrong.
        assert response.status_code == 200, response.text
        events = [
            json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
        ]
        if sender == "assistant":
            # The SDK's own refusal, before the stream options.
            assert [(e["type"], e["code"]) for e in events] == [("error", "stream.error")]
        else:
            assert [e["type"] for e in events] == ["stream_options", "error"]
            assert events[1]["code"] == "custom"
            assert events[1]["message"] == message
            assert events[1]["allow_retry"] is False
    assert (await b.items(), await b.tasks()) == before
    # The thread still works afterwards.
    assert assistant_text(await b.say("What's pending?")).startswith("You have")


async def test_actions_from_two_tabs_at_once_leave_one_consistent_widget(action_stack, http):
    b = await board(action_stack.base_url, http)
    first, second = await asyncio.gather(
        b.press_sync("task.complete", {"number": 1}),
        b.press_sync("task.complete", {"number": 2}),
    )
    assert first.status_code == second.status_code == 200
    assert [t["status"] for t in await b.tasks()] == ["completed", "completed"]
    # Each answer rebuilt the list from the tasks as they were; a reload plus one more
    # press shows the truth.
    response = await b.press_sync("task.reopen", {"number": 1})
    rows = rows_by_number(response.json()["updated_item"]["widget"])
    assert (rows[1]["status"], rows[2]["status"]) == ("Pending", "Completed")
