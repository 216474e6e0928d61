"""A seven-turn conversation with tools against the fake OpenAI server, over HTTP, checked
after every turn: the tasks table, the thread as the client loads it, and what went out to the
model (history with every earlier tool call and its output, instructions, tools)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.chat import assistant_text
from tests.support.fake_openai import Call, FakeOpenAI, RecordedRequest, Say
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

# (user text, the model's planned replies, the answer, the tasks table afterwards)
CONVERSATION: list[tuple[str, list[Any], str, list[tuple[str, str, str]]]] = [
    (
        "Add a task to buy milk",
        [Call("add_task", {"title": "Buy milk"}), Say("Added task #1: Buy milk.")],
        "Added task #1: Buy milk.",
        [("Buy milk", "pending", "medium")],
    ),
    (
        "Also call mom, that one is urgent",
        [
            Call("add_task", {"title": "Call mom", "priority": "high"}),
            Say("Added task #2: Call mom (high priority)."),
        ],
        "Added task #2: Call mom (high priority).",
        [("Buy milk", "pending", "medium"), ("Call mom", "pending", "high")],
    ),
    (
        "What's pending?",
        [Call("list_tasks", {"status": "pending"}), Say("Two tasks: #1 Buy milk, #2 Call mom.")],
        "Two tasks: #1 Buy milk, #2 Call mom.",
        [("Buy milk", "pending", "medium"), ("Call mom", "pending", "high")],
    ),
    (
        "I bought the milk",
        [Call("complete_task", {"task": "milk"}), Say("Completed #1 Buy milk.")],
        "Completed #1 Buy milk.",
        [("Buy milk", "completed", "medium"), ("Call mom", "pending", "high")],
    ),
    (
        "Rename 2 to call dad",
        [Call("update_task", {"task": "2", "title": "Call dad"}), Say("Renamed #2 to Call dad.")],
        "Renamed #2 to Call dad.",
        [("Buy milk", "completed", "medium"), ("Call dad", "pending", "high")],
    ),
    (
        "Actually delete it",
        [Call("delete_task", {"task": "2"}), Say("Deleted #2 Call dad.")],
        "Deleted #2 Call dad.",
        [("Buy milk", "completed", "medium")],
    ),
    (
        "Thanks!",
        [Say("You're welcome!", deltas=1)],
        "You're welcome!",
        [("Buy milk", "completed", "medium")],
    ),
]


def sent_history(request: RecordedRequest) -> list[tuple[str, str]]:
    """(role, text) of the user and assistant messages a request carried, either API."""
    body = request.body
    if request.path.endswith("/chat/completions"):
        messages = body["messages"]
    else:
        messages = [m for m in body["input"] if m.get("type", "message") == "message"]
    out = []
    for message in messages:
        if message["role"] not in ("user", "assistant"):
            continue
        content = message.get("content")
        if content is None:
            continue  # an assistant turn that only calls tools (Chat Completions)
        if not isinstance(content, str):
            content = "".join(part.get("text", "") for part in content)
        if content.startswith("The following graphical UI widget"):
            continue  # a task widget shown beside an answer, described to the model
        out.append((message["role"], content))
    return out


def sent_tool_calls(request: RecordedRequest) -> list[tuple[str, dict[str, Any], str]]:
    """(name, arguments, output) of every tool call in the history a request carried, each
    call directly followed by its output, on either API."""
    body = request.body
    calls: list[tuple[str, dict[str, Any], str]] = []
    if request.path.endswith("/chat/completions"):
        messages = body["messages"]
        for index, message in enumerate(messages):
            for offset, call in enumerate(message.get("tool_calls") or [], start=1):
                answer = messages[index + offset]
                assert (answer["role"], answer["tool_call_id"]) == ("tool", call["id"])
                function = call["function"]
                arguments = json.loads(function["arguments"])
                calls.append((function["name"], arguments, answer["content"]))
        return calls
    items = body["input"]
    for index, item in enumerate(items):
        if item.get("type") == "function_call":
            output = items[index + 1]
            assert output["type"] == "function_call_output"
            assert output["call_id"] == item["call_id"]
            calls.append((item["name"], json.loads(item["arguments"]), output["output"]))
    return calls


def instructions_of(request: RecordedRequest) -> str:
    if request.path.endswith("/chat/completions"):
        first = request.body["messages"][0]
        assert first["role"] in ("system", "developer")
        return str(first["content"])
    return str(request.body["instructions"])


def tool_names_of(request: RecordedRequest) -> list[str]:
    tools = request.body["tools"]
    return [t["function"]["name"] if "function" in t else t["name"] for t in tools]


async def table(base_url: str, client: ChatKitClient) -> list[tuple[str, str, str]]:
    response = await client._http.get(
        f"{base_url}/tasks", headers={"Authorization": f"Bearer {client.client_secret}"}
    )
    response.raise_for_status()
    return [(t["title"], t["status"], t["priority"]) for t in response.json()["tasks"]]


async def thread_items(client: ChatKitClient, thread_id: str) -> list[dict[str, Any]]:
    page = await client.request(
        {"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
    )
    # The messages; task widgets shown beside the answers are items of their own.
    return [i for i in page["data"] if i["type"] in ("user_message", "assistant_message")]


async def run_conversation(
    base_url: str, fake: FakeOpenAI, http: httpx.AsyncClient, user_id: str
) -> None:
    """Seven turns, six with a tool call, checked after each turn."""
    client = ChatKitClient(base_url, http)
    await client.sign_in(user_id)
    thread_id: str | None = None
    said: list[tuple[str, str]] = []
    called: list[tuple[str, dict[str, Any]]] = []
    for turn, (text, plans, answer, tasks) in enumerate(CONVERSATION, start=1):
        fake.script(*plans)
        first_request = len(fake.requests)
        payload = add_message_request(thread_id, text) if thread_id else create_thread_request(text)
        events = [event async for event in client.stream(payload)]
        assert not [e for e in events if e["type"] == "error"], (turn, events)
        if thread_id is None:
            thread_id = events[0]["thread"]["id"]
        assert assistant_text(events) == answer
        assert not fake.plans, f"turn {turn} left scripted replies unused"

        # What went out: every earlier message in order (assistant ones as plain text), then
        # this one; one request per planned reply (the tool call, then the answer).
        requests = fake.requests[first_request:]
        assert len(requests) == len(plans)
        assert sent_history(requests[0]) == [*said, ("user", text)]
        said += [("user", text), ("assistant", answer)]
        # Tool memory: every earlier tool call went out again with its output, in order.
        sent = sent_tool_calls(requests[0])
        assert [(name, arguments) for name, arguments, _ in sent] == called
        assert all(json.loads(output)["ok"] is True for _, _, output in sent)
        called += [(p.name, p.arguments) for p in plans if isinstance(p, Call)]

        assert await table(base_url, client) == tasks
        items = await thread_items(client, thread_id)
        assert [(i["type"], i["content"][0]["text"]) for i in items] == [
            ("user_message" if role == "user" else "assistant_message", said_text)
            for role, said_text in said
        ]
        # Each answer saved under its own id (Chat Completions streams "__fake_id__").
        ids = [i["id"] for i in items]
        assert len(set(ids)) == len(ids)
        assert not any("fake" in i for i in ids)

    # The prefix is the same on every request: instructions first, then the same tools.
    assert len({instructions_of(r) for r in fake.requests}) == 1
    assert instructions_of(fake.requests[0]).startswith("You are the assistant inside a Todo app")
    assert len({tuple(tool_names_of(r)) for r in fake.requests}) == 1
