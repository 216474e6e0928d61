"""Oversized and crafted requests: refused with the right status before anything is written,
and crafted chat text that used to stall the local model is answered at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.partitions import partition_items
from tests.support.security import CaseCounter, World, fresh_user_id, sse_events
from todo_assistant_dev.chat_client import create_thread_request

pytestmark = pytest.mark.e2e


def chunks(total: int, size: int = 16_384) -> Iterator[bytes]:
    """A JSON-looking body sent chunked (no Content-Length), `total` bytes in all."""
    yield b'{"title": "'
    sent = 11
    while sent < total:
        piece = b"x" * min(size, total - sent)
        sent += len(piece)
        yield piece
    yield b'"}'


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/tasks"),
        ("PATCH", "/tasks/1"),
        ("POST", "/chatkit"),
        ("POST", "/chatkit/cancel"),
        ("POST", "/session/refresh"),
    ],
)
def test_oversized_chunked_bodies_are_413(world: World, cases: CaseCounter, method, path):
    user = world.sign_in(fresh_user_id("flooder"))
    before = partition_items(world.settings, user.id)
    response = world.http.request(
        method,
        f"{world.base}{path}",
        content=chunks(world.settings.max_request_bytes + 1),
        headers={**user.auth, "content-type": "application/json"},
    )
    cases.tried()
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "request_too_large"
    assert partition_items(world.settings, user.id) == before


def test_chunked_bodies_within_the_limit_still_work(world: World, cases: CaseCounter):
    user = world.sign_in(fresh_user_id("chunker"))
    response = world.http.post(
        f"{world.base}/tasks",
        content=chunks(150, size=16),
        headers={**user.auth, "content-type": "application/json"},
    )
    cases.tried()
    assert response.status_code == 201, response.text


CRAFTED = {
    "run of spaces": "mark " + " " * 20_000 + "x",
    "repeated list verb": "show " * 5_000,
    "run of commas": "add x" + "," * 20_000 + "y",
    "repeated 'x to'": "change " + "x to " * 5_000 + "!",
    "lazy reference": "mark " + "a " * 10_000 + "b",
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_chat_text_is_answered_and_adds_nothing(world: World, cases: CaseCounter, name):
    # Each of these stalled the whole server for seconds to minutes (regex backtracking).
    user = world.sign_in(fresh_user_id("crafter"))
    before = partition_items(world.settings, user.id)
    # Whole, it is longer than any message may be: refused at the door, nothing written.
    response = world.chatkit(user, create_thread_request(CRAFTED[name]))
    cases.tried()
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "message_too_long"
    assert partition_items(world.settings, user.id) == before
    # Cut to the longest message allowed, it reaches the model, which reads it in linear time
    # and answers without acting on it.
    allowed = world.settings.max_message_chars
    events = sse_events(world.chatkit(user, create_thread_request(CRAFTED[name][:allowed])))
    cases.tried()
    done = [e for e in events if e["type"] == "thread.item.done"]
    reply = done[-1]["item"]["content"][0]["text"]
    assert "too long" in reply
    assert len(reply) < 500
    kinds = {row.get("kind", {}).get("S") for row in partition_items(world.settings, user.id)}
    assert "task" not in kinds
