"""What the local model reads from the conversation it is given: the user's latest request,
a tool result waiting for its reply, the tasks its earlier tool calls listed (tool memory)."""

from __future__ import annotations

import json
import re
from typing import Any

from agents.items import TResponseInputItem

from todo_assistant.agent.client_tools import CLIENT_TOOL_NAMES
from todo_assistant.agent.composer_input import is_attachment_text
from todo_assistant.llm.local.intents import describe_tool_result
from todo_assistant.llm.local.phrases import client_tool_reply

# Items the ChatKit converter adds after the user's own text; they are context, not requests.
_CONTEXT_PREFIXES = ("The user is referring to this in particular", "# User-provided context")
# How much of a message the "didn't catch that" reply quotes back.
_QUOTED_CHARS = 80
_HIDDEN_MARKERS = ("<SDK_HIDDEN_CONTEXT", "<HiddenContext>")
WHAT_DID_I_CLICK = re.compile(r"\bwhat did i (?:just )?(?:click|press|do)\b", re.IGNORECASE)
_ORDINALS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
# "What was the second task you listed?": answered from the tool memory in the history.
LISTED_TASK = re.compile(
    r"\bwhat\s+(?:was|is)\s+the\s+(?P<which>"
    + "|".join(_ORDINALS)
    + r"|last|\d{1,3}(?:st|nd|rd|th))\s+(?:task|one)\s+(?:that\s+)?you\s+(?:just\s+)?"
    r"(?:listed|showed|mentioned)\b",
    re.IGNORECASE,
)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def latest_user_text(items: list[TResponseInputItem]) -> str:
    for item in reversed(items):
        if _field(item, "role") != "user":
            continue
        content = _field(item, "content")
        if isinstance(content, str):
            text = content
        else:
            text = "".join(
                str(_field(part, "text") or "")
                for part in content or []
                if _field(part, "type") == "input_text"
                and not is_attachment_text(str(_field(part, "text") or ""))
            )
        if text and not is_context_text(text):
            return text
    return ""


def is_context_text(text: str) -> bool:
    return text.startswith(_CONTEXT_PREFIXES) or any(marker in text for marker in _HIDDEN_MARKERS)


def pending_tool_result(items: list[TResponseInputItem]) -> tuple[str, str] | None:
    """(tool name, output) when the model is being called back after a tool ran this turn."""
    if not items or _field(items[-1], "type") != "function_call_output":
        return None
    call_id = _field(items[-1], "call_id")
    output = _field(items[-1], "output")
    name = next(
        (
            str(_field(item, "name"))
            for item in reversed(items)
            if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id
        ),
        "",
    )
    return name, output if isinstance(output, str) else json.dumps(output)


def quoted(text: str) -> str:
    short = " ".join(text.split())
    return repr(short if len(short) <= _QUOTED_CHARS else short[:_QUOTED_CHARS] + "…")


def input_texts(items: list[TResponseInputItem]) -> list[str]:
    texts: list[str] = []
    for item in items:
        content = _field(item, "content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(_field(part, "text") or "") for part in content)
    return texts


def _call_arguments(items: list[TResponseInputItem], call_id: object) -> dict[str, Any]:
    for item in reversed(items):
        if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id:
            try:
                arguments = json.loads(str(_field(item, "arguments") or "{}"))
            except ValueError:
                return {}
            return arguments if isinstance(arguments, dict) else {}
    return {}


def recall_listed_task(items: list[TResponseInputItem], which: str) -> str:
    """The n-th task of the latest `list_tasks` output the model was given: on a later turn
    that is the tool memory in the history (tool_memory.py), not the model's own summary."""
    names = {
        _field(item, "call_id"): _field(item, "name")
        for item in items
        if _field(item, "type") == "function_call"
    }
    listed: list[Any] | None = None
    for item in reversed(items):
        if (
            _field(item, "type") == "function_call_output"
            and names.get(_field(item, "call_id")) == "list_tasks"
        ):
            try:
                result = json.loads(str(_field(item, "output")))
            except ValueError:
                continue
            tasks = result.get("tasks") if isinstance(result, dict) else None
            if isinstance(tasks, list):
                listed = tasks
                break
    if listed is None:
        return "I haven't listed any tasks in this conversation yet."
    if not listed:
        return "The last list I showed you had no tasks in it."
    which = which.lower()
    position = len(listed) if which == "last" else _ORDINALS.get(which) or int(which[:-2])
    if not 1 <= position <= len(listed):
        return f"I only listed {len(listed)} task{'s' if len(listed) != 1 else ''}."
    task = listed[position - 1]
    if not isinstance(task, dict):
        return "I couldn't read that list again."
    return f"The {which} task I listed was #{task.get('number')} {task.get('title')}."


def reply_after_tool(items: list[TResponseInputItem], name: str, output: str) -> str:
    """The answer once a tool ran: short when a widget already shows the details."""
    if name in CLIENT_TOOL_NAMES:
        arguments = _call_arguments(items, _field(items[-1], "call_id"))
        return client_tool_reply(name, arguments, output)
    try:
        result = json.loads(output)
    except ValueError:
        result = None
    if (
        name == "list_tasks"
        and isinstance(result, dict)
        and result.get("ok")
        and result.get("widget")
        and result.get("tasks")
    ):
        return f"You have {result.get('message')}."
    return describe_tool_result(name, output)
