"""When the model fails mid-turn: a message the user understands, one log line, a true thread.

Every failure of a turn is sorted into one of a fixed set of kinds (`FAILURE_KINDS`). For each
kind the user gets a ChatKit error event with a plain message (never the provider's text, which
can hold request details) and `allow_retry` when trying again can help. The operator gets one
JSON log line (kind, model, request id, status, the provider's request id) and a `TurnFailures`
metric by kind; a traceback only for `internal`, where it is a bug of ours.

Partial answers (one rule): when the stream breaks after the assistant began writing, the text
written so far is kept, marked as interrupted (`INTERRUPTED_NOTICE` appended), and finished on
the client with `thread.item.done`, so a reload shows exactly what the client was left with.
An assistant message that had no text yet is removed (`thread.item.removed`).

When tools had already changed tasks for the user message (agent/effects.py), an assistant
message says so ("Before the error I added task #3 “Water the plants”."): the user sees what
changed, also after a reload. Then a hidden failure marker is saved after the turn, listing the
same changes (see history.py: the failed request is not sent to the model again unless the user
retries it, and the model is told what did happen).

The OpenAI client retries 429s, 5xx, timeouts and connection errors itself (bounded by
OPENAI_MAX_RETRIES, honouring Retry-After) before a failure reaches this module.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import openai
from agents.exceptions import ModelBehaviorError
from chatkit.errors import BaseStreamError, CustomStreamError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from todo_assistant.agent.effects import in_words
from todo_assistant.agent.history import failed_turn_marker
from todo_assistant.metrics import current_turn
from todo_assistant.observability import logger

FailureKind = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "refused",
    "unavailable",
    "connection_lost",
    "internal",
]
FAILURE_KINDS: tuple[FailureKind, ...] = (
    "rate_limited",
    "server_error",
    "timeout",
    "refused",
    "unavailable",
    "connection_lost",
    "internal",
)

INTERRUPTED_NOTICE = "\n\n_(This answer was interrupted.)_"


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    allow_retry: bool


FAILURES: dict[FailureKind, Failure] = {
    failure.kind: failure
    for failure in (
        Failure(
            "rate_limited",
            "The assistant is getting too many requests right now. Wait a moment, then try again.",
            True,
        ),
        Failure("server_error", "The AI service had a problem answering. Please try again.", True),
        Failure("timeout", "The AI service took too long to answer. Please try again.", True),
        Failure(
            "refused",
            "The AI service could not process this message. Try rephrasing it.",
            False,
        ),
        Failure(
            "unavailable", "The assistant is not available right now. Please try later.", False
        ),
        Failure(
            "connection_lost",
            "The connection to the AI service was interrupted. Please try again.",
            True,
        ),
        Failure("internal", "Something went wrong while answering. Please try again.", True),
    )
}


def classify(error: BaseException) -> Failure:
    """The kind of a model failure (LiteLLM's errors subclass the openai ones)."""
    kind: FailureKind = "internal"
    if isinstance(error, openai.RateLimitError):
        kind = "rate_limited"
    elif isinstance(error, openai.APITimeoutError):
        kind = "timeout"
    elif isinstance(error, openai.APIConnectionError):
        kind = "connection_lost"
    elif isinstance(error, openai.APIStatusError):
        status = error.status_code
        if status >= 500:
            kind = "server_error"
        elif status in (408,):
            kind = "timeout"
        elif status in (401, 403, 404):
            kind = "unavailable"
        else:
            kind = "refused"
    elif isinstance(error, openai.ContentFilterFinishReasonError):
        kind = "refused"
    elif isinstance(error, openai.APIError):
        # An error the server sent inside the stream (a failed response).
        kind = "server_error"
    elif isinstance(error, ModelBehaviorError) and "response.failed" in str(error):
        kind = "server_error"
    elif (httpx := sys.modules.get("httpx")) is not None:
        # A client on plain httpx (the openai client wraps its own transport errors, also
        # a connection that drops mid-stream, in APIConnectionError). Only a process that
        # imported httpx can hold its errors: one that did not is spared the import.
        if isinstance(error, httpx.TimeoutException):
            kind = "timeout"
        elif isinstance(error, httpx.TransportError):
            kind = "connection_lost"
    return FAILURES[kind]


def log_failure(failure: Failure, error: BaseException, *, model: str) -> None:
    turn = current_turn()
    fields: dict[str, object] = {
        "kind": failure.kind,
        "model": model,
        "request_id": turn.request_id if turn is not None else None,
        "error_type": type(error).__name__,
    }
    if isinstance(error, openai.APIStatusError):
        fields["status"] = error.status_code
    if isinstance(error, openai.APIError) and getattr(error, "request_id", None):
        fields["model_request_id"] = error.request_id  # type: ignore[attr-defined]
    # A failing provider is not our bug: one line, no traceback. Anything else is.
    logger.error(
        "model turn failed", extra=fields, exc_info=error if failure.kind == "internal" else None
    )


class _DropSdkModelErrorLine(logging.Filter):
    """The Agents SDK logs "Error streaming response" at error level for every model failure;
    `log_failure` writes the one line that counts (with the request id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Error streaming response")


logging.getLogger("openai.agents").addFilter(_DropSdkModelErrorLine())


def changes_told(item_id: str, thread_id: str, changes: list[str]) -> AssistantMessageItem:
    """The visible record of what a failed turn's tools changed."""
    return AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=datetime.now(),
        content=[AssistantMessageContent(text=f"Before the error I {in_words(changes)}.")],
    )


def _track(pending: dict[str, AssistantMessageItem], event: ThreadStreamEvent) -> None:
    """Keep the text of assistant messages that are still being written."""
    if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, AssistantMessageItem):
        pending[event.item.id] = event.item.model_copy(deep=True)
    elif isinstance(event, ThreadItemDoneEvent | ThreadItemRemovedEvent):
        pending.pop(
            event.item.id if isinstance(event, ThreadItemDoneEvent) else event.item_id, None
        )
    elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in pending:
        item, update = pending[event.item_id], event.update
        if isinstance(
            update,
            AssistantMessageContentPartAdded
            | AssistantMessageContentPartTextDelta
            | AssistantMessageContentPartDone,
        ):
            while len(item.content) <= update.content_index:
                item.content.append(AssistantMessageContent(text=""))
            part = item.content[update.content_index]
            if isinstance(update, AssistantMessageContentPartTextDelta):
                part.text += update.delta
            else:
                item.content[update.content_index] = update.content.model_copy(deep=True)


async def guard_model_failures(
    events: AsyncIterator[ThreadStreamEvent],
    *,
    thread_id: str,
    new_item_id: Callable[[], str],
    model: str,
    wake_event_reader: Callable[[], Awaitable[None]] | None = None,
    changes_made: Callable[[], list[str]] | None = None,
) -> AsyncIterator[ThreadStreamEvent]:
    """Pass a turn's events through; when it fails, settle the thread and raise a
    `CustomStreamError`, which ChatKit sends to the client as an `error` event.

    `changes_made`: what the tools changed for the user message (in words), told in the thread.

    `wake_event_reader`: when the run fails, ChatKit's `stream_agent_response` leaves its
    reader of the agent context's event queue waiting forever, and asyncio later logs "Task
    was destroyed but it is pending!" at error level; one event in the queue lets it finish.
    """
    pending: dict[str, AssistantMessageItem] = {}
    try:
        async for event in events:
            _track(pending, event)
            yield event
    except BaseStreamError:
        raise  # already a message meant for the user
    except Exception as error:
        failure = classify(error)
        log_failure(failure, error, model=model)
        if wake_event_reader is not None:
            await wake_event_reader()
        turn = current_turn()
        if turn is not None:
            turn.failed(failure.kind)
        incomplete_id: str | None = None
        for item in pending.values():
            if any(part.text for part in item.content):
                item.content[-1].text += INTERRUPTED_NOTICE
                incomplete_id = item.id
                yield ThreadItemDoneEvent(item=item)
            else:
                yield ThreadItemRemovedEvent(item_id=item.id)
        changes = changes_made() if changes_made is not None else []
        if changes:
            told = changes_told(new_item_id(), thread_id, changes)
            yield ThreadItemAddedEvent(item=told)
            yield ThreadItemDoneEvent(item=told)
        yield ThreadItemDoneEvent(
            item=failed_turn_marker(new_item_id(), thread_id, failure.kind, incomplete_id, changes)
        )
        raise CustomStreamError(failure.message, allow_retry=failure.allow_retry) from None
