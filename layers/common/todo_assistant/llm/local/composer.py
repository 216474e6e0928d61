"""How the offline local model reads what the composer added to a message.

- @-mentions: "complete @#3 Buy milk" becomes "complete task #3" using the converter's
  mention context (composer_input.py); a mention of a task that does not exist is answered
  directly, without a tool call.
- The page context's selected task: "complete the selected task" becomes "complete task #3".
- A forced composer tool: the message is read as that tool's argument ("buy milk" with
  `add-task` adds "Buy milk").
- "Add tasks from this note": one `add_task` per line of the attached text file, one call per
  model step (so the numbers follow the lines), then a summary.
- "Which model are you?": names the model the turn runs on (the composer's model picker).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from todo_assistant.agent.composer_input import (
    is_attachment_text,
    parse_attachment_text,
    parse_mentions,
)
from todo_assistant.agent.page_context import selected_task
from todo_assistant.llm.local.intents import ToolCall, parse_request

NOTE_MAX_TASKS = 20
TITLE_MAX_CHARS = 200
MENTION_CONTEXT_PREFIX = "# User-provided context for @-mentions"

_F = re.IGNORECASE
_NOTE_REQUEST = re.compile(
    r"\b(?:add|create|make|import|turn)\b.*\b(?:tasks?|todos?|items?)\b.*"
    r"\b(?:from|in|of)\s+(?:this|the|my|that|attached)?\s*(?:note|file|list|attachment|text)\b"
    r"|\b(?:note|file|list|attachment)\b.*\binto\s+tasks\b",
    _F,
)
_SELECTED = re.compile(r"\b(?:the\s+|this\s+)?(?:selected|highlighted|current)\s+task\b", _F)
_MODEL_QUESTION = re.compile(r"\b(?:which|what)\s+model\b", _F)
_LINE_MARKER = re.compile(r"^\s*(?:[-*+•]\s+)?(?:\[[ xX]?\]\s*)?(?:\d{1,3}[.)]\s+)?")
_STATUS_WORDS = {
    "all": "all",
    "pending": "pending",
    "open": "pending",
    "todo": "pending",
    "completed": "completed",
    "done": "completed",
    "finished": "completed",
}


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _text_parts(item: Any) -> list[str]:
    content = _field(item, "content")
    if isinstance(content, str):
        return [content]
    return [
        str(_field(part, "text") or "")
        for part in content or []
        if _field(part, "type") == "input_text"
    ]


@dataclass
class ComposerTurn:
    """The latest user message as the composer sent it."""

    index: int = -1
    text: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)  # (file name, text)
    mentions: dict[str, int | None] = field(default_factory=dict)

    @property
    def missing_mentions(self) -> list[str]:
        return [tag for tag, number in self.mentions.items() if number is None and tag in self.text]


def read_turn(items: list[Any], is_context: Any) -> ComposerTurn:
    """Find the latest real user message (`is_context(text)` marks converter-added items)."""
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if _field(item, "role") != "user":
            continue
        parts = _text_parts(item)
        own = [p for p in parts if not is_attachment_text(p)]
        text = "".join(own)
        if not text or is_context(text):
            continue
        turn = ComposerTurn(index=index, text=text)
        for part in parts:
            if (parsed := parse_attachment_text(part)) is not None:
                turn.notes.append((parsed[0], parsed[2]))
        for later in items[index + 1 :]:
            if _field(later, "role") == "user":
                later_parts = _text_parts(later)
                if later_parts and later_parts[0].startswith(MENTION_CONTEXT_PREFIX):
                    for part in later_parts[1:]:
                        turn.mentions.update(parse_mentions(part))
        return turn
    return ComposerTurn()


def with_references(turn: ComposerTurn, instructions: str | None) -> str:
    """The message with @-mentions and "the selected task" replaced by task numbers."""
    text = turn.text
    for tag, number in sorted(turn.mentions.items(), key=lambda entry: -len(entry[0])):
        if number is not None:
            text = text.replace(f"@{tag}", f"task #{number}")
    if (selected := selected_task(instructions)) is not None:
        text = _SELECTED.sub(f"task #{selected}", text)
    return text


def forced_call(tool_name: str, text: str) -> ToolCall | None:
    """The call of a composer-forced tool, reading the whole message as its argument."""
    parsed = parse_request(text)
    if parsed is not None and parsed.name == tool_name:
        return parsed
    words = text.strip().strip(".!?").strip()
    if tool_name == "add_task":
        return parse_request(f"add {words}") if words else None
    if tool_name == "list_tasks":
        status = _STATUS_WORDS.get(words.lower())
        if status or not words:
            return ToolCall("list_tasks", {"status": status or "all"})
        return ToolCall("list_tasks", {"status": "all", "text": words})
    if tool_name in ("complete_task", "delete_task"):
        return ToolCall(tool_name, {"task": words}) if words else None
    return None


def is_note_request(text: str) -> bool:
    return bool(_NOTE_REQUEST.search(text))


def note_titles(note: str) -> list[str]:
    """One title per non-empty line (list markers and Markdown headings dropped)."""
    titles = []
    for line in note.splitlines():
        if line.lstrip().startswith("#"):
            continue
        title = _LINE_MARKER.sub("", line).strip()[:TITLE_MAX_CHARS]
        if title:
            titles.append(title)
    return titles[:NOTE_MAX_TASKS]


def tool_outputs_since(items: list[Any], index: int) -> list[dict[str, Any]]:
    outputs = []
    for item in items[index + 1 :]:
        if _field(item, "type") == "function_call_output":
            raw = _field(item, "output")
            try:
                parsed = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                parsed = {}
            outputs.append(parsed if isinstance(parsed, dict) else {})
    return outputs


def describe_note_result(name: str, outputs: list[dict[str, Any]]) -> str:
    added = [o["task"] for o in outputs if o.get("ok") and isinstance(o.get("task"), dict)]
    failed = len(outputs) - len(added)
    lines = [f"Added {len(added)} task{'s' if len(added) != 1 else ''} from {name}:"]
    lines += [f"- [ ] #{t['number']} {t['title']}" for t in added]
    if failed:
        lines.append(f"{failed} line{'s' if failed != 1 else ''} could not be added.")
    return "\n".join(lines)


def model_question(text: str) -> bool:
    return bool(_MODEL_QUESTION.search(text))
