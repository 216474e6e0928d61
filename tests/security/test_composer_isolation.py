"""The composer's inputs aimed at another user: @-mentions of A's tasks and attachments.

A tag carries a task number the client chose; the converter looks it up among the caller's
own tasks only, so A's number answers exactly like a number nobody has. Attachment ids of A
in messages and deletes are covered by test_isolation's probes; here, what B creates lands
in B's partition and under B's S3 prefix only.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.security import CaseCounter, World, fresh_user_id, sse_events
from todo_assistant.db import keys

pytestmark = pytest.mark.e2e


def tagged(number: int | str, text: str, words: str) -> dict[str, Any]:
    return {
        "type": "threads.create",
        "params": {
            "input": {
                "content": [
                    {"type": "input_text", "text": words},
                    {
                        "type": "input_tag",
                        "id": f"task-{number}",
                        "text": text,
                        "data": {"number": str(number)},
                        "group": "Tasks",
                        "interactive": True,
                    },
                ],
                "attachments": [],
                "inference_options": {},
            }
        },
    }


def replies(events: list[dict[str, Any]]) -> str:
    return "\n".join(
        "".join(part["text"] for part in e["item"]["content"])
        for e in events
        if e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
    )


@pytest.mark.parametrize("words", ["complete ", "delete ", "what about ", "rename to owned "])
def test_a_tag_naming_another_users_task_reveals_nothing(world: World, cases: CaseCounter, words):
    attacker = world.sign_in(fresh_user_id("attacker"))
    victim_task = world.a_targets.task
    made_up = victim_task + 10_000
    before = world.snapshot(world.a)

    attack = sse_events(world.chatkit(attacker, tagged(victim_task, f"#{victim_task} x", words)))
    cases.tried()
    control = sse_events(world.chatkit(attacker, tagged(made_up, f"#{made_up} x", words)))

    assert world.snapshot(world.a) == before
    assert not [e for e in attack if e["type"] == "error"]
    for text in world.a_texts:
        assert text not in str(attack)
    normalize = lambda text: re.sub(r"#\d+", "#<n>", text)  # noqa: E731
    assert normalize(replies(attack)) == normalize(replies(control))


def test_a_tag_can_name_the_callers_own_task(world: World, cases: CaseCounter):
    """The control for the test above: the same tag shape works on one's own task."""
    owner = world.sign_in(fresh_user_id("owner"))
    created = world.http.post(
        f"{world.base}/tasks", json={"title": "Water the plants"}, headers=owner.auth
    )
    number = created.json()["number"]
    events = sse_events(world.chatkit(owner, tagged(number, f"#{number} Water", "complete ")))
    cases.tried()
    assert f"Completed task #{number}: Water the plants" in replies(events)


def test_an_attachment_is_created_in_the_callers_partition_and_prefix_only(
    world: World, cases: CaseCounter
):
    attacker = world.sign_in(fresh_user_id("attacker"))
    before = world.snapshot(world.a)
    created = world.chatkit(
        attacker,
        {
            "type": "attachments.create",
            "params": {"name": f"../{world.a.id}/x.txt", "size": 5, "mime_type": "text/plain"},
        },
    )
    cases.tried()
    assert created.status_code == 200, created.text
    attachment = created.json()
    assert attachment["name"] == "x.txt"
    url = attachment["upload_descriptor"]["url"]
    assert keys.attachment_object_key(attacker.id, attachment["id"]) in url
    assert world.a.id not in url
    assert world.snapshot(world.a) == before
    rows = world.snapshot(attacker)[attacker.id]
    assert [r["sk"]["S"] for r in rows] == [keys.attachment_sk(attachment["id"])]

    # The victim cannot use or delete it either: ids are per user both ways.
    victim_use = world.chatkit(
        world.a, {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    cases.tried()
    assert victim_use.status_code == 404
    assert world.snapshot(attacker)[attacker.id] == rows
