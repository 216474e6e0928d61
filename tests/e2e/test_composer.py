"""The composer over real HTTP with the local model: /config, @-mentions of tasks, the model
picker, composer tools, page context and two-phase attachments (bytes PUT straight to S3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from tests.support.e2e import Stack, start_stack
from tests.support.partitions import partition_items
from tests.support.settings import BUCKET, bound_settings
from todo_assistant.db import keys
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant_dev.chat_client import ChatKitClient, user_message

pytestmark = pytest.mark.e2e

MODELS = ["gpt-4.1", "o4-mini"]
MAX_BYTES = 4_096


@pytest.fixture
def composer_stack(moto_endpoint: str) -> Iterator[Stack]:
    settings = bound_settings(
        moto_endpoint,
        moto_endpoint,
        allowed_models=MODELS,
        attachment_max_bytes=MAX_BYTES,
    )
    yield from start_stack(settings, LocalTodoModel())


@pytest.fixture
async def chat(composer_stack: Stack, http: httpx.AsyncClient) -> ChatKitClient:
    client = ChatKitClient(composer_stack.base_url, http)
    await client.sign_in(f"composer-{uuid.uuid4().hex[:10]}")
    return client


# -- helpers ----------------------------------------------------------------------------------
def tag(number: int, title: str) -> dict[str, Any]:
    """What the front end builds from a GET /tasks?q= result."""
    return {
        "type": "input_tag",
        "id": f"task-{number}",
        "text": f"#{number} {title}",
        "data": {"number": str(number), "title": title},
        "group": "Tasks",
        "interactive": True,
    }


def message(*content: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    parts = [{"type": "input_text", "text": c} if isinstance(c, str) else c for c in content]
    return {**user_message(""), "content": parts, **extra}


async def send(chat: ChatKitClient, thread_id: str | None, input: dict[str, Any]) -> Any:
    """One turn; returns (thread id, events). Fails on any error event."""
    if thread_id is None:
        payload = {"type": "threads.create", "params": {"input": input}}
    else:
        payload = {
            "type": "threads.add_user_message",
            "params": {"thread_id": thread_id, "input": input},
        }
    events = [event async for event in chat.stream(payload)]
    assert not [e for e in events if e["type"] == "error"], events
    for event in events:
        if event["type"] == "thread.created":
            thread_id = event["thread"]["id"]
    return thread_id, events


def reply(events: list[dict[str, Any]]) -> str:
    """What the turn showed: the answers' text and the task widgets' text beside them."""
    shown = []
    for e in events:
        if e["type"] != "thread.item.done":
            continue
        if e["item"]["type"] == "assistant_message":
            shown.append("".join(part["text"] for part in e["item"]["content"]))
        elif e["item"]["type"] == "widget":
            shown.append(e["item"].get("copy_text") or "")
    return "\n".join(shown)


async def raw(chat: ChatKitClient, payload: dict[str, Any]) -> httpx.Response:
    return await chat._http.post(f"{chat.base_url}/chatkit", json=payload, headers=chat._headers())


async def add_tasks(chat: ChatKitClient, *titles: str) -> None:
    for title in titles:
        created = await chat._http.post(
            f"{chat.base_url}/tasks", json={"title": title}, headers=chat._headers()
        )
        assert created.status_code == 201


async def tasks(chat: ChatKitClient, **params: Any) -> list[dict[str, Any]]:
    listed = await chat._http.get(f"{chat.base_url}/tasks", params=params, headers=chat._headers())
    assert listed.status_code == 200, listed.text
    result: list[dict[str, Any]] = listed.json()["tasks"]
    return result


def user_of(chat: ChatKitClient) -> str:
    import jwt

    return str(jwt.decode(chat.client_secret or "", options={"verify_signature": False})["sub"])


def rows(stack: Stack, chat: ChatKitClient) -> list[dict[str, Any]]:
    return partition_items(stack.settings, user_of(chat))


def s3(stack: Stack) -> Any:
    return boto3.client("s3", endpoint_url=stack.settings.s3_endpoint, region_name="us-east-1")


def object_exists(stack: Stack, key: str) -> bool:
    listed = s3(stack).list_objects_v2(Bucket=BUCKET, Prefix=key)
    return any(o["Key"] == key for o in listed.get("Contents", []))


# -- GET /config --------------------------------------------------------------------------------
async def test_config_describes_the_composer_without_sign_in(composer_stack, http):
    response = await http.get(f"{composer_stack.base_url}/config")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    config = response.json()
    assert config["auth_mode"] == "dev"
    assert [(m["id"], m["default"]) for m in config["models"]] == [
        ("gpt-4.1-mini", True),
        ("gpt-4.1", False),
        ("o4-mini", False),
    ]
    assert all(m["label"] for m in config["models"])
    assert [t["id"] for t in config["composer_tools"]] == [
        "add-task",
        "list-tasks",
        "complete-task",
    ]
    assert set(config["composer_tools"][0]) == {
        "id",
        "label",
        "shortLabel",
        "icon",
        "placeholderOverride",
    }
    assert config["attachments"]["enabled"] is True
    assert config["attachments"]["max_bytes"] == MAX_BYTES
    assert config["attachments"]["accept"]["text/plain"] == [".txt"]
    assert "application/zip" not in config["attachments"]["accept"]


# -- @-mentions ---------------------------------------------------------------------------------
async def test_task_search_ranks_exact_prefix_and_word_matches_first(chat):
    await add_tasks(
        chat, "Call about milk delivery", "Buy milk", "Milk the cow", "milk", "Oatmilk", "Water"
    )
    found = await tasks(chat, q="milk")
    assert [t["number"] for t in found] == [4, 3, 1, 2, 5]
    assert [t["number"] for t in await tasks(chat, q="MILK", limit=3)] == [4, 3, 1]
    assert [t["number"] for t in await tasks(chat, q="#2")] == [2]
    assert await tasks(chat, q="nothing like it") == []
    too_many = await chat._http.get(
        f"{chat.base_url}/tasks", params={"limit": 1000}, headers=chat._headers()
    )
    assert too_many.status_code == 400


@pytest.mark.parametrize("label", ["#2 Buy milk", "Buy milk"])
async def test_a_tagged_turn_and_every_later_turn_succeed(composer_stack, chat, label):
    await add_tasks(chat, "Call mom", "Buy milk")
    mention = {**tag(2, "Buy milk"), "text": label}
    thread, events = await send(chat, None, message("complete ", mention))
    assert "Completed task #2: Buy milk" in reply(events)
    assert [t["status"] for t in await tasks(chat)] == ["pending", "completed"]

    # The history now holds a tag: the next turns convert it again and must still work.
    _, events = await send(chat, thread, message("Show me all my tasks"))
    assert "#1 Call mom" in reply(events)
    _, events = await send(chat, thread, message("Mark task 1 as complete"))
    assert "Completed task #1" in reply(events)
    items = (
        await chat.request({"type": "items.list", "params": {"thread_id": thread, "limit": 50}})
    )["data"]
    assert sum(i["type"] == "user_message" for i in items) == 3


async def test_a_tag_of_a_task_that_does_not_exist_changes_nothing(composer_stack, chat):
    await add_tasks(chat, "Call mom")
    before = await tasks(chat)
    thread, events = await send(chat, None, message("complete ", tag(99, "Secret plan")))
    assert "couldn't find the task you mentioned" in reply(events)
    assert await tasks(chat) == before
    _, events = await send(chat, thread, message("What's pending?"))
    assert "#1 Call mom" in reply(events)


# -- model picker and composer tools ------------------------------------------------------------
async def test_the_picked_model_answers(chat):
    thread, events = await send(chat, None, message("Which model are you?"))
    assert "gpt-4.1-mini" in reply(events)
    picked = message("Which model are you?", inference_options={"model": "o4-mini"})
    _, events = await send(chat, thread, picked)
    assert "o4-mini" in reply(events)
    listed = {"type": "items.list", "params": {"thread_id": thread, "order": "asc"}}
    items = (await chat.request(listed))["data"]
    options = [i["inference_options"] for i in items if i["type"] == "user_message"]
    assert [o.get("model") for o in options] == [None, "o4-mini"]


async def test_an_unknown_model_or_tool_is_refused_before_anything_is_written(composer_stack, chat):
    thread, _ = await send(chat, None, message("hello"))
    before = rows(composer_stack, chat)
    for options, needle in [
        ({"model": "gpt-9-ultra"}, "Unknown model 'gpt-9-ultra'"),
        ({"tool_choice": {"id": "drop-database"}}, "Unknown composer tool 'drop-database'"),
    ]:
        for payload in [
            {
                "type": "threads.create",
                "params": {"input": message("hi", inference_options=options)},
            },
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread, "input": message("hi", inference_options=options)},
            },
        ]:
            response = await raw(chat, payload)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "invalid_request"
            assert needle in response.json()["message"]
    assert rows(composer_stack, chat) == before


async def test_a_composer_tool_forces_its_task_tool(chat):
    forced = {"tool_choice": {"id": "add-task"}}
    thread, events = await send(
        chat, None, message("oat milk by tomorrow", inference_options=forced)
    )
    assert "Added task #1: Oat milk" in reply(events)
    assert [t["title"] for t in await tasks(chat)] == ["Oat milk"]
    assert (await tasks(chat))[0]["due_date"] is not None

    # Without the tool, the same words are not a request; the forced choice lasts one message.
    _, events = await send(chat, thread, message("oat milk"))
    assert "didn't catch a task request" in reply(events)
    listing = message("milk", inference_options={"tool_choice": {"id": "list-tasks"}})
    _, events = await send(chat, thread, listing)
    assert "#1 Oat milk" in reply(events)
    done = message("oat milk", inference_options={"tool_choice": {"id": "complete-task"}})
    _, events = await send(chat, thread, done)
    assert "Completed task #1" in reply(events)


# -- page context -------------------------------------------------------------------------------
async def test_the_page_context_reaches_the_agent(chat):
    await add_tasks(chat, "Call mom", "Buy milk")
    page = {"view": "board", "filter": "pending", "selectedTask": 2, "user_id": "someone-else"}
    with_page = message("Complete the selected task", metadata={"pageContext": page})
    thread, events = await send(chat, None, with_page)
    assert "Completed task #2: Buy milk" in reply(events)

    # Without it, "the selected task" names nothing.
    _, events = await send(chat, thread, message("Complete the selected task"))
    assert "Completed" not in reply(events)
    assert [t["status"] for t in await tasks(chat)] == ["pending", "completed"]


# -- attachments --------------------------------------------------------------------------------
async def create_attachment(chat: ChatKitClient, name: str, mime: str, size: int) -> httpx.Response:
    return await raw(
        chat,
        {"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime}},
    )


async def upload(http: httpx.AsyncClient, attachment: dict[str, Any], data: bytes) -> None:
    descriptor = attachment["upload_descriptor"]
    assert descriptor["method"] == "PUT"
    put = await http.put(descriptor["url"], content=data, headers=descriptor["headers"])
    assert put.status_code == 200, put.text


def with_files(text: str, *attachment_ids: str) -> dict[str, Any]:
    return {**message(text), "attachments": list(attachment_ids)}


def attachment_row(stack: Stack, chat: ChatKitClient, attachment_id: str) -> dict[str, Any] | None:
    sk = keys.attachment_sk(attachment_id)
    return next((r for r in rows(stack, chat) if r["sk"]["S"] == sk), None)


NOTE = b"# Weekend\n- Buy milk\n- [ ] Call the plumber\n\n3. Water the plants\n"


async def test_a_text_note_uploaded_to_s3_becomes_tasks(composer_stack, chat, http):
    created = await create_attachment(chat, "weekend.md", "text/markdown", len(NOTE))
    assert created.status_code == 200, created.text
    attachment = created.json()
    assert attachment["type"] == "file" and attachment["mime_type"] == "text/markdown"
    assert attachment["upload_descriptor"]["headers"] == {"Content-Type": "text/markdown"}
    assert "metadata" not in attachment
    pending = attachment_row(composer_stack, chat, attachment["id"])
    assert pending is not None and "expires_at" in pending  # unused uploads expire

    await upload(http, attachment, NOTE)
    key = keys.attachment_object_key(user_of(chat), attachment["id"])
    assert object_exists(composer_stack, key)

    thread, events = await send(
        chat, None, with_files("Add tasks from this note", attachment["id"])
    )
    assert "Added 3 tasks from weekend.md:" in reply(events)
    assert [(t["number"], t["title"]) for t in await tasks(chat)] == [
        (1, "Buy milk"),
        (2, "Call the plumber"),
        (3, "Water the plants"),
    ]
    bound = attachment_row(composer_stack, chat, attachment["id"])
    assert bound is not None and "expires_at" not in bound
    _, events = await send(chat, thread, message("What's pending?"))
    assert "#3 Water the plants" in reply(events)

    # Deleting the thread deletes the file and its metadata.
    deleted = await raw(chat, {"type": "threads.delete", "params": {"thread_id": thread}})
    assert deleted.status_code == 200
    assert not object_exists(composer_stack, key)
    assert attachment_row(composer_stack, chat, attachment["id"]) is None


async def test_attachments_delete_removes_metadata_and_object(composer_stack, chat, http):
    attachment = (await create_attachment(chat, "a.txt", "text/plain", 5)).json()
    await upload(http, attachment, b"hello")
    key = keys.attachment_object_key(user_of(chat), attachment["id"])
    response = await raw(
        chat, {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    assert response.status_code == 200
    assert not object_exists(composer_stack, key)
    assert attachment_row(composer_stack, chat, attachment["id"]) is None
    again = await raw(
        chat, {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    assert again.status_code == 404


async def test_an_image_reaches_the_turn_and_keeps_a_preview(composer_stack, chat, http):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    attachment = (await create_attachment(chat, "board.png", "image/png", len(png))).json()
    assert attachment["type"] == "image" and attachment["preview_url"].startswith("http")
    await upload(http, attachment, png)
    preview = await http.get(attachment["preview_url"])
    assert preview.status_code == 200 and preview.content == png
    _, events = await send(chat, None, with_files("hello", attachment["id"]))
    assert reply(events)


@pytest.mark.parametrize(
    ("name", "mime", "size", "needle"),
    [
        ("tool.exe", "application/x-msdownload", 10, "not accepted"),
        ("archive.zip", "application/zip", 10, "not accepted"),
        ("big.txt", "text/plain", MAX_BYTES + 1, "limit"),
        ("empty.txt", "text/plain", 0, "empty"),
    ],
)
async def test_a_refused_attachment_writes_nothing(composer_stack, chat, name, mime, size, needle):
    before = rows(composer_stack, chat)
    response = await create_attachment(chat, name, mime, size)
    assert response.status_code == 400
    assert needle in response.json()["message"]
    assert rows(composer_stack, chat) == before


async def test_a_file_is_checked_again_when_a_message_uses_it(composer_stack, chat, http):
    thread, _ = await send(chat, None, message("hello"))
    never = (await create_attachment(chat, "never.txt", "text/plain", 10)).json()
    oversize = (await create_attachment(chat, "small.txt", "text/plain", 10)).json()
    await upload(http, oversize, b"x" * (MAX_BYTES + 10))
    retyped = (await create_attachment(chat, "page.txt", "text/plain", 10)).json()
    put = await http.put(
        retyped["upload_descriptor"]["url"],
        content=b"<html></html>",
        headers={"Content-Type": "text/html"},
    )
    assert put.status_code in (200, 403)  # S3 refuses the unsigned type; moto stores it

    before = rows(composer_stack, chat)
    for attachment, needle in [
        (never, "has not been uploaded"),
        (oversize, "the limit is"),
        (retyped, "not 'text/plain'" if put.status_code == 200 else "has not been uploaded"),
    ]:
        for payload in [
            {"type": "threads.create", "params": {"input": with_files("hi", attachment["id"])}},
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread, "input": with_files("hi", attachment["id"])},
            },
        ]:
            response = await raw(chat, payload)
            assert response.status_code == 400, response.text
            assert needle in response.json()["message"]
    assert rows(composer_stack, chat) == before
