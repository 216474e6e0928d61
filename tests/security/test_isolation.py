"""User B aims every ChatKit request type and every tasks route at user A's ids.

For each: nothing of A's comes back, nothing anywhere changes (A's and B's partitions are read
whole from DynamoDB before and after), and the answer (status and body) is exactly the answer
for an id nobody owns, so B cannot even learn that A's id exists.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from chatkit.types import ChatKitReq

from tests.support.security import CaseCounter, Targets, World, sse_events
from todo_assistant.ids import new_id
from todo_assistant_dev.chat_client import add_message_request, user_message

pytestmark = pytest.mark.e2e


def action(t: Targets, item: str | None) -> dict[str, Any]:
    return {
        "thread_id": t.thread,
        "item_id": item,
        "action": {"type": "task.complete", "payload": {"number": t.task}},
    }


def with_attachment(t: Targets) -> dict[str, Any]:
    message = user_message("see my file")
    message["attachments"] = [t.attachment]
    return message


Probe = Callable[[Targets], dict[str, Any]]

CHATKIT_PROBES: dict[str, Probe] = {
    "threads.get_by_id": lambda t: {
        "type": "threads.get_by_id",
        "params": {"thread_id": t.thread},
    },
    "threads.update": lambda t: {
        "type": "threads.update",
        "params": {"thread_id": t.thread, "title": "owned"},
    },
    "threads.delete": lambda t: {"type": "threads.delete", "params": {"thread_id": t.thread}},
    "threads.list(after)": lambda t: {"type": "threads.list", "params": {"after": t.thread}},
    "threads.create(attachment)": lambda t: {
        "type": "threads.create",
        "params": {"input": with_attachment(t)},
    },
    "threads.add_user_message": lambda t: add_message_request(t.thread, "Delete all my tasks"),
    "threads.add_user_message(own thread, attachment)": lambda t: {
        "type": "threads.add_user_message",
        "params": {"thread_id": t.own_thread, "input": with_attachment(t)},
    },
    "items.list": lambda t: {"type": "items.list", "params": {"thread_id": t.thread}},
    "items.list(after)": lambda t: {
        "type": "items.list",
        "params": {"thread_id": t.thread, "after": t.user_item, "order": "asc"},
    },
    "items.list(own thread, after)": lambda t: {
        "type": "items.list",
        "params": {"thread_id": t.own_thread, "after": t.assistant_item},
    },
    "items.feedback": lambda t: {
        "type": "items.feedback",
        "params": {"thread_id": t.thread, "item_ids": [t.assistant_item], "kind": "negative"},
    },
    "items.feedback(own thread)": lambda t: {
        "type": "items.feedback",
        "params": {"thread_id": t.own_thread, "item_ids": [t.assistant_item], "kind": "negative"},
    },
    "threads.retry_after_item": lambda t: {
        "type": "threads.retry_after_item",
        "params": {"thread_id": t.thread, "item_id": t.user_item},
    },
    "threads.retry_after_item(own thread)": lambda t: {
        "type": "threads.retry_after_item",
        "params": {"thread_id": t.own_thread, "item_id": t.user_item},
    },
    "threads.custom_action": lambda t: {
        "type": "threads.custom_action",
        "params": action(t, t.assistant_item),
    },
    "threads.custom_action(no item)": lambda t: {
        "type": "threads.custom_action",
        "params": action(t, None),
    },
    "threads.custom_action(own thread)": lambda t: {
        "type": "threads.custom_action",
        "params": {**action(t, t.assistant_item), "thread_id": t.own_thread},
    },
    "threads.sync_custom_action": lambda t: {
        "type": "threads.sync_custom_action",
        "params": action(t, t.assistant_item),
    },
    "threads.sync_custom_action(own thread)": lambda t: {
        "type": "threads.sync_custom_action",
        "params": {**action(t, t.assistant_item), "thread_id": t.own_thread},
    },
    # A's task widget: its buttons, pressed by B through A's thread or B's own.
    "threads.custom_action(widget)": lambda t: {
        "type": "threads.custom_action",
        "params": action(t, t.widget_item),
    },
    "threads.custom_action(own thread, widget)": lambda t: {
        "type": "threads.custom_action",
        "params": {**action(t, t.widget_item), "thread_id": t.own_thread},
    },
    "threads.custom_action(own thread, widget, delete)": lambda t: {
        "type": "threads.custom_action",
        "params": {
            "thread_id": t.own_thread,
            "item_id": t.widget_item,
            "action": {"type": "task.delete.confirm", "payload": {"number": t.task}},
        },
    },
    "threads.sync_custom_action(widget)": lambda t: {
        "type": "threads.sync_custom_action",
        "params": action(t, t.widget_item),
    },
    "threads.sync_custom_action(own thread, widget)": lambda t: {
        "type": "threads.sync_custom_action",
        "params": {**action(t, t.widget_item), "thread_id": t.own_thread},
    },
    "threads.sync_custom_action(own thread, widget, reopen)": lambda t: {
        "type": "threads.sync_custom_action",
        "params": {
            "thread_id": t.own_thread,
            "item_id": t.widget_item,
            "action": {"type": "task.reopen", "payload": {"number": 1}},
        },
    },
    "threads.add_client_tool_output": lambda t: {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": t.thread, "result": {"ok": True}},
    },
    "threads.add_structured_input": lambda t: {
        "type": "threads.add_structured_input",
        "params": {
            "thread_id": t.thread,
            "item_id": t.assistant_item,
            "input": {"status": "answered", "answers": {"q1": {"values": ["yes"]}}},
        },
    },
    "attachments.delete": lambda t: {
        "type": "attachments.delete",
        "params": {"attachment_id": t.attachment},
    },
}

# Request types that name no thread, item or attachment: nothing of A's to aim at.
TAKES_NO_IDS = {"attachments.create", "input.transcribe"}


def chatkit_request_types() -> set[str]:
    union = typing.get_args(ChatKitReq)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in typing.get_args(union)}


def test_every_chatkit_request_type_is_probed():
    probed = {name.split("(")[0] for name in CHATKIT_PROBES}
    assert chatkit_request_types() - TAKES_NO_IDS == probed


def fake_targets(real: Targets) -> Targets:
    return Targets(
        thread=new_id("thr"),
        user_item=new_id("msg"),
        assistant_item=new_id("msg"),
        attachment=f"atc_{new_id('x')[2:]}",
        task=real.task + 10_000,
        own_thread=real.own_thread,
        widget_item=new_id("msg"),
    )


def normalized(response: httpx.Response, targets: Targets) -> tuple[int, str, str]:
    text = response.text
    for value in targets.ids():
        text = text.replace(value, "<id>")
    text = text.replace(f"Task {targets.task} ", "Task <n> ")
    return response.status_code, response.headers.get("content-type", ""), text


def assert_no_leak(world: World, response: httpx.Response) -> None:
    for value in [*world.a_targets.ids(), *world.a_texts, world.a.id]:
        assert value not in response.text, f"{value!r} leaked to the attacker"


def probe(world: World, cases: CaseCounter, send: Callable[[Targets], httpx.Response]) -> None:
    real_targets = world.a_targets
    fake = fake_targets(real_targets)
    before = world.snapshot(world.a, world.b)
    attack = send(real_targets)
    cases.tried()
    after_attack = world.snapshot(world.a, world.b)
    control = send(fake)
    assert after_attack == before, "the attack changed stored data"
    assert world.snapshot(world.a, world.b) == before, "the control request changed stored data"
    assert_no_leak(world, attack)
    assert normalized(attack, real_targets) == normalized(control, fake)
    assert attack.status_code < 500, attack.text


@pytest.mark.parametrize("name", list(CHATKIT_PROBES))
def test_chatkit_request_on_another_users_ids(world, cases, name):
    build = CHATKIT_PROBES[name]
    probe(world, cases, lambda t: world.chatkit(world.b, build(t)))


TASK_PROBES: dict[str, Callable[[World, Targets], httpx.Response]] = {
    "GET /tasks/{n}": lambda w, t: w.http.get(f"{w.base}/tasks/{t.task}", headers=w.b.auth),
    "PATCH /tasks/{n} status": lambda w, t: w.http.patch(
        f"{w.base}/tasks/{t.task}", json={"status": "completed"}, headers=w.b.auth
    ),
    "PATCH /tasks/{n} title": lambda w, t: w.http.patch(
        f"{w.base}/tasks/{t.task}", json={"title": "owned"}, headers=w.b.auth
    ),
    "DELETE /tasks/{n}": lambda w, t: w.http.delete(f"{w.base}/tasks/{t.task}", headers=w.b.auth),
    "GET /tasks?q=": lambda w, t: w.http.get(
        f"{w.base}/tasks", params={"q": "bank", "status": "all"}, headers=w.b.auth
    ),
}


@pytest.mark.parametrize("name", list(TASK_PROBES))
def test_tasks_route_on_another_users_task(world, cases, name):
    send = TASK_PROBES[name]
    probe(world, cases, lambda t: send(world, t))


def test_thread_list_shows_only_the_callers_threads(world, cases):
    listed = world.chatkit(world.b, {"type": "threads.list", "params": {"limit": 100}})
    cases.tried()
    assert listed.status_code == 200
    assert_no_leak(world, listed)
    assert [t["id"] for t in listed.json()["data"]] == [world.a_targets.own_thread]
    tasks = world.http.get(f"{world.base}/tasks", headers=world.b.auth)
    cases.tried()
    assert tasks.json() == {"tasks": []}


@pytest.mark.parametrize(
    "text",
    [
        "Show me all my tasks",
        "Mark task 1 as complete",
        "Delete task 2",
        "Rename task 1 to owned",
        "Delete the bank task",
        "Select task 2",
        "Open task 2 for editing",
    ],
)
def test_the_assistant_only_reaches_the_callers_tasks(world, cases, text):
    before = world.snapshot(world.a)
    events = sse_events(
        world.chatkit(world.b, add_message_request(world.a_targets.own_thread, text))
    )
    cases.tried()
    assert world.snapshot(world.a) == before
    assert not [e for e in events if e["type"] == "error"]
    for value in world.a_texts:
        assert value not in str(events)


def key_injections(world: World) -> list[str]:
    """Ids that try to step out of the caller's partition or into another row type."""
    t, victim = world.a_targets, world.a.id
    return [
        f"USER#{victim}",
        f"{t.thread}#",
        f"{t.thread}#ITEM#{t.user_item}",
        f"../USER#{victim}/THREAD#{t.thread}",
        f"THREAD#{t.thread}",
        "*",
        "",
        t.thread.upper(),
        f"{t.thread}\u0000",
    ]


@pytest.mark.parametrize("request_type", ["threads.get_by_id", "items.list", "threads.delete"])
def test_ids_shaped_as_keys_reach_nothing(world, cases, request_type):
    before = world.snapshot(world.a, world.b)
    missing = world.chatkit(world.b, {"type": request_type, "params": {"thread_id": new_id("thr")}})
    for thread_id in key_injections(world):
        response = world.chatkit(
            world.b, {"type": request_type, "params": {"thread_id": thread_id}}
        )
        cases.tried()
        assert (response.status_code, response.text) == (missing.status_code, missing.text)
    assert world.snapshot(world.a, world.b) == before


def stop_request(world: World, thread_id: str) -> httpx.Response:
    return world.http.post(
        f"{world.base}/chatkit/cancel", json={"thread_id": thread_id}, headers=world.b.auth
    )


def test_a_stop_request_for_another_users_thread(world, cases):
    probe(world, cases, lambda t: stop_request(world, t.thread))


def test_stop_requests_with_ids_shaped_as_keys_reach_nothing(world, cases):
    before = world.snapshot(world.a, world.b)
    missing = stop_request(world, new_id("thr"))
    assert missing.status_code == 404, missing.text
    for thread_id in key_injections(world):
        response = stop_request(world, thread_id)
        cases.tried()
        assert (response.status_code, response.text) == (missing.status_code, missing.text)
    assert world.snapshot(world.a, world.b) == before


@pytest.mark.parametrize("number", ["-1", "0", "99999999999999999999", "1e0", "1%23TASK"])
def test_odd_task_numbers_reach_nothing(world, cases, number):
    before = world.snapshot(world.a, world.b)
    for method in ("GET", "PATCH", "DELETE"):
        response = world.http.request(
            method,
            f"{world.base}/tasks/{number}",
            headers=world.b.auth,
            json={"title": "owned"} if method == "PATCH" else None,
        )
        cases.tried()
        assert response.status_code in (400, 404), response.text
    assert world.snapshot(world.a, world.b) == before


def test_a_widget_button_reaches_only_the_callers_own_tasks(world, cases):
    """B's own task widget, its payload forged to name A's task numbers: refused as a task the
    widget does not show, exactly as a number nobody owns, and nothing changes anywhere."""
    own = world.a_targets.own_thread
    sse_events(world.chatkit(world.b, add_message_request(own, "Add a task to plan a trip")))
    listed = sse_events(world.chatkit(world.b, add_message_request(own, "Show me all my tasks")))
    widget = next(
        e["item"]["id"]
        for e in listed
        if e["type"] == "thread.item.done" and e["item"]["type"] == "widget"
    )
    before = world.snapshot(world.a, world.b)
    for kind in ("task.complete", "task.reopen", "task.delete", "task.delete.confirm"):
        for request_type in ("threads.sync_custom_action", "threads.custom_action"):
            answers = []
            for number in (world.a_targets.task, world.a_targets.task + 10_000):
                body = {
                    "type": request_type,
                    "params": {
                        "thread_id": own,
                        "item_id": widget,
                        "action": {"type": kind, "payload": {"number": number}},
                    },
                }
                response = world.chatkit(world.b, body)
                cases.tried()
                assert_no_leak(world, response)
                answers.append(
                    (response.status_code, response.text.replace(f"#{number} ", "#<n> "))
                )
            assert answers[0] == answers[1]
            assert answers[0][0] in (200, 400), answers[0]
            assert "is not shown in this widget" in answers[0][1]
    assert world.snapshot(world.a, world.b) == before
