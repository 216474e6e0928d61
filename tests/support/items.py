"""ChatKit thread items built by hand.

`thread`, `user_item` and `assistant_item` make fresh ids and take their times; `user` and
`assistant` take the ids given, in thread `thr_1`, one second apart on a fixed clock (`at`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from todo_assistant.ids import new_id


def thread(thread_id: str | None = None, title: str | None = "Groceries") -> ThreadMetadata:
    return ThreadMetadata(
        id=thread_id or new_id("thr"),
        title=title,
        created_at=datetime.now(),
        metadata={"source": "test"},
    )


def user_item(
    thread_id: str, text: str, created_at: datetime, item_id: str | None = None
) -> UserMessageItem:
    return UserMessageItem(
        id=item_id or new_id("msg"),
        thread_id=thread_id,
        created_at=created_at,
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def assistant_item(
    thread_id: str, text: str, created_at: datetime, item_id: str | None = None
) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id or new_id("msg"),
        thread_id=thread_id,
        created_at=created_at,
        content=[AssistantMessageContent(text=text)],
    )


START = datetime(2026, 12, 1, 9, 0, 0)
_clock = iter(range(1000))


def at() -> datetime:
    return START + timedelta(seconds=next(_clock))


def user(item_id: str, text: str, **extra: Any) -> UserMessageItem:
    content: list[Any] = [UserMessageTextContent(text=text), *extra.pop("tags", [])]
    return UserMessageItem(
        id=item_id,
        thread_id="thr_1",
        created_at=at(),
        content=content,
        inference_options=InferenceOptions(),
        **extra,
    )


def assistant(item_id: str, *texts: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id,
        thread_id="thr_1",
        created_at=at(),
        content=[AssistantMessageContent(text=t) for t in texts],
    )
