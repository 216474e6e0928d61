"""Drive a ChatKit server in-process with raw protocol requests (no network)."""

from __future__ import annotations

import json
from typing import Any

from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult

from todo_assistant.context import RequestContext
from todo_assistant_dev.chat_client import add_message_request, create_thread_request


async def stream_events(
    server: ChatKitServer[RequestContext], payload: dict[str, Any], ctx: RequestContext
) -> list[dict[str, Any]]:
    result = await server.process(json.dumps(payload), ctx)
    assert isinstance(result, StreamingResult)
    events: list[dict[str, Any]] = []
    async for chunk in result:
        assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
        events.append(json.loads(chunk[len(b"data: ") :]))
    return events


async def request_json(
    server: ChatKitServer[RequestContext], payload: dict[str, Any], ctx: RequestContext
) -> Any:
    result = await server.process(json.dumps(payload), ctx)
    assert isinstance(result, NonStreamingResult)
    return json.loads(result.json)


async def say(
    server: ChatKitServer[RequestContext], ctx: RequestContext, text: str, thread_id: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """Send one user message (creating the thread if needed); returns thread id and events."""
    payload = add_message_request(thread_id, text) if thread_id else create_thread_request(text)
    events = await stream_events(server, payload, ctx)
    for event in events:
        if event["type"] == "thread.created":
            thread_id = event["thread"]["id"]
    assert thread_id is not None
    return thread_id, events


def assistant_text(events: list[dict[str, Any]]) -> str:
    """The final text of the assistant messages completed in a stream."""
    texts = [
        "".join(part["text"] for part in event["item"]["content"])
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    ]
    return "\n".join(texts)


def text_deltas(events: list[dict[str, Any]]) -> list[str]:
    return [
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated"
        and event["update"]["type"] == "assistant_message.content_part.text_delta"
    ]


def widget_items(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The widget items completed in a stream."""
    return [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "widget"
    ]


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        children = node.get("children")
        for child in children if isinstance(children, list) else [children]:
            yield from _walk(child)


def task_rows(widget: dict[str, Any]) -> list[dict[str, Any]]:
    """What a task widget shows per task: number, title line, badges, due date and buttons
    as (label, action type, handler, payload)."""
    rows = []
    for node in _walk(widget):
        key = node.get("key") or ""
        if not (key.startswith("task-") and key[5:].isdigit()):
            continue
        row: dict[str, Any] = {"number": int(key[5:]), "due": None, "buttons": []}
        for part in _walk(node):
            if part.get("key") == "title":
                row["title"] = part["value"]
            elif part.get("key") in ("status", "priority"):
                row[part["key"]] = part["label"]
            elif part.get("key") == "due":
                row["due"] = part["value"]
            elif part.get("type") == "Button":
                action = part.get("onClickAction") or {}
                row["buttons"].append(
                    (
                        part["label"],
                        action.get("type"),
                        action.get("handler"),
                        action.get("payload"),
                    )
                )
        rows.append(row)
    return rows


def button_types(widget: dict[str, Any], number: int) -> list[str]:
    row = next(r for r in task_rows(widget) if r["number"] == number)
    return [button[1] for button in row["buttons"]]
