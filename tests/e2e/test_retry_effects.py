"""Retry (`threads.retry_after_item`) over HTTP never repeats what the tools changed.

The local model makes the same tool call again when a message is answered again; the effects
ledger (agent/effects.py) replays the recorded result instead of changing the tasks twice. The
database is checked, not just the text.
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.e2e import Stack
from tests.support.http_chat import Chat, answer, cards, effects, retry_request, shown

pytestmark = pytest.mark.e2e


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
