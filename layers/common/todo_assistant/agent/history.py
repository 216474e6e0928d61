"""Thread items -> model input that every model path accepts.

ChatKit's default `ThreadItemConverter` writes an earlier assistant message as a message with
`output_text` parts. The Responses API takes that, but the Agents SDK's Chat Completions
converter (used by `OpenAIChatCompletionsModel` and `LitellmModel`) rejects it ("Unknown
content"), so every second turn failed there. Here:

- an assistant message is a plain `{"role": "assistant", "content": "<text>"}` message;
- tool calls are a `function_call` + `function_call_output` pair (the SDK's own form): the
  agent's own tools from their hidden records (tool_memory.py), client tools from their
  `client_tool_call` items;
- other hidden context and the SDK's notes are user-role text (the SDK's own form);
- a widget with a `copy_text` is described by that text (the tasks it shows, one line each)
  rather than by its whole JSON tree, about a tenth of the tokens;
- tags (@-mentions) and attachments become text the model can read, instead of an error;
- a failed turn is left out (see below).

Failed turns: when a turn fails, the server saves a hidden marker after it (`failed_turn_marker`).
Its user message and any partial answer are then not sent to the model again, so a request
that was never carried out is not carried out later by surprise; the model gets a short note
in their place. When tools had already changed tasks for it, the marker lists the changes and
the note says they were made (and must not be made again). Retrying the message
(threads.retry_after_item) deletes the marker with the rest of the turn, and the message is
answered normally (agent/effects.py keeps the retry from repeating the changes).

Which items are converted at all is decided per turn by the token budget (history_budget.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    HiddenContextItem,
    ThreadItem,
    UserMessageItem,
    UserMessageTagContent,
    WidgetItem,
)
from openai.types.responses import (
    EasyInputMessageParam,
    ResponseInputContentParam,
    ResponseInputTextParam,
)

from todo_assistant.agent.effects import in_words
from todo_assistant.agent.tool_memory import tool_call_record

FAILED_TURN_KEY = "turn_failed"
FAILED_TURN_NOTE = (
    "The user's request at this point of the conversation failed before it was answered "
    "and was not carried out. Do not act on it unless the user asks for it again."
)
FAILED_AFTER_CHANGES_NOTE = (
    "The user's request at this point of the conversation failed before it was answered. "
    "Before it failed, you {changes}; these changes stand, do not make them again. Do not act "
    "on the rest of that request unless the user asks for it again."
)


def failed_turn_marker(
    item_id: str,
    thread_id: str,
    kind: str,
    incomplete_item_id: str | None = None,
    changes: list[str] | None = None,
) -> HiddenContextItem:
    """The hidden item saved after a turn that failed (never sent to the client); `changes`
    are what its tools changed, in words (agent/effects.py)."""
    content: dict[str, Any] = {FAILED_TURN_KEY: kind}
    if incomplete_item_id is not None:
        content["incomplete_item_id"] = incomplete_item_id
    if changes:
        content["changes"] = changes
    return HiddenContextItem(
        id=item_id, thread_id=thread_id, created_at=datetime.now(), content=content
    )


def is_failed_turn_marker(item: ThreadItem) -> bool:
    return (
        isinstance(item, HiddenContextItem)
        and isinstance(item.content, dict)
        and FAILED_TURN_KEY in item.content
    )


def failed_turn_note(marker: HiddenContextItem) -> str:
    """What the model is told in place of a failed turn: true also when tools changed tasks."""
    changes = marker.content.get("changes") if isinstance(marker.content, dict) else None
    if not changes:
        return FAILED_TURN_NOTE
    return FAILED_AFTER_CHANGES_NOTE.format(changes=in_words([str(c) for c in changes]))


def _user_text(text: str) -> EasyInputMessageParam:
    return EasyInputMessageParam(
        type="message", role="user", content=[ResponseInputTextParam(type="input_text", text=text)]
    )


def without_failed_turns(items: Sequence[ThreadItem]) -> list[ThreadItem]:
    """Drop the user message and assistant text of every turn that ends with a failure marker.

    A turn is a user message and what follows it up to the next user message. Other items of
    a failed turn (what tools did, kept as hidden context) stay: they happened.
    """
    kept: list[ThreadItem] = []
    turn: list[ThreadItem] = []

    def close_turn() -> None:
        if any(is_failed_turn_marker(item) for item in turn):
            turn[:] = [i for i in turn if not isinstance(i, UserMessageItem | AssistantMessageItem)]
        kept.extend(turn)
        turn.clear()

    for item in items:
        if isinstance(item, UserMessageItem):
            close_turn()
        turn.append(item)
    close_turn()
    return kept


class HistoryConverter(ThreadItemConverter):
    async def assistant_message_to_input(
        self, item: AssistantMessageItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        text = "".join(part.text for part in item.content)
        if not text:
            return None
        return EasyInputMessageParam(type="message", role="assistant", content=text)

    async def hidden_context_to_input(
        self, item: HiddenContextItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        if is_failed_turn_marker(item):
            return _user_text(f"<HiddenContext>\n{failed_turn_note(item)}\n</HiddenContext>")
        if (record := tool_call_record(item)) is not None:
            return record.to_input()
        if not isinstance(item.content, str):
            item = item.model_copy(update={"content": json.dumps(item.content, default=str)})
        return await super().hidden_context_to_input(item)

    async def widget_to_input(
        self, item: WidgetItem
    ) -> TResponseInputItem | list[TResponseInputItem] | None:
        if not item.copy_text:
            return await super().widget_to_input(item)
        return _user_text(
            f"The following graphical UI widget (id: {item.id}) was displayed to the user, "
            f"as text:\n{item.copy_text}"
        )

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        data = json.dumps(tag.data, default=str, sort_keys=True)
        return ResponseInputTextParam(type="input_text", text=f"@{tag.text} refers to: {data}")

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        return ResponseInputTextParam(
            type="input_text",
            text=(
                f"The user attached a file: {attachment.name} ({attachment.mime_type}, "
                f"id {attachment.id}); its contents are not available to you."
            ),
        )

    async def to_agent_input(
        self, thread_items: Sequence[ThreadItem] | ThreadItem
    ) -> list[TResponseInputItem]:
        items = list(thread_items) if isinstance(thread_items, Sequence) else [thread_items]
        return await super().to_agent_input(without_failed_turns(items))
