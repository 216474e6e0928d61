"""The pre-turn checks read through the request's own view of its thread: a client tool's
output is checked against the thread's newest item without a read of its own."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support.ddb_calls import count_dynamodb_calls
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    client_tool_output_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


async def collect(client: ChatKitClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [event async for event in client.stream(payload)]


async def test_a_client_tools_output_is_checked_by_the_turns_own_read(stack, http):
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(f"user-{uuid.uuid4().hex[:12]}")
    events = await collect(client, create_thread_request("Add a task to buy milk"))
    thread_id = str(events[0]["thread"]["id"])
    events = await collect(client, add_message_request(thread_id, "Select task 1"))
    assert [e for e in events if e.get("item", {}).get("type") == "client_tool_call"]

    with count_dynamodb_calls() as calls:
        events = await collect(client, client_tool_output_request(thread_id, {"ok": True}))
    assert not [e for e in events if e["type"] == "error"]
    # One Query reads the thread with its newest items; the check that a client tool call is
    # waiting (the thread, its newest item) is answered from it: no GetItem, no second Query.
    assert calls["Query"] == 1
    assert calls["GetItem"] == 1  # the tool-effect record of the message being answered
