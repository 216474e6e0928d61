"""The local model's side of the client tools (agent/client_tools.py): the phrases that ask for
the dashboard, and what it answers once the browser did the work (or refused)."""

from __future__ import annotations

import json
import re
from typing import Any

from todo_assistant.llm.local.intents import ToolCall

_BOARD = r"(?:board|dashboard|task\s+board|list\s+view|screen|panel)"
_SHOW = re.compile(rf"^(?:show|display|filter|switch|set|put|change)\b.*\b{_BOARD}\b", re.I)
_SELECT = re.compile(
    rf"^(?:select|highlight|focus\s+on|pick)\s+(?:task\s*)?#?(?P<n>\d{{1,9}})(?:\s+on\s+the\s+{_BOARD})?$",
    re.I,
)
_EDITOR = re.compile(
    r"^(?:(?:open|edit)\s+(?:task\s*)?#?(?P<n>\d{1,9})"
    r"(?:\s+(?:for\s+editing|in\s+the\s+editor|to\s+edit|in\s+the\s+edit\s+form))?"
    r"|open\s+the\s+(?:editor|edit\s+form)\s+(?:for|of)\s+(?:task\s*)?#?(?P<m>\d{1,9}))$",
    re.I,
)
_QUERY = re.compile(
    rf"\b(?:about|matching|containing|mentioning|with)\s+['\"]?(?P<q>.+?)['\"]?(?:\s+on\s+the\s+{_BOARD})?$",
    re.I,
)
_FILTERS = (
    (re.compile(r"\b(?:pending|open|remaining|outstanding|unfinished|to\s*do)\b", re.I), "pending"),
    (re.compile(r"\b(?:completed|done|finished)\b", re.I), "completed"),
)


def _clean(text: str) -> str:
    text = re.sub(r"^(?:please|can you|could you|would you)[,\s]+", "", text.strip(), flags=re.I)
    return re.sub(r"[\s,]*(?:please|thanks|thank you)?[.!?\s]*$", "", text, flags=re.I)


def parse_client_tool_request(message: str) -> ToolCall | None:
    """A phrase that asks for the dashboard ("show me only what's pending on the board")."""
    text = _clean(message)
    if match := _SELECT.match(text):
        return ToolCall("select_task", {"number": int(match["n"])})
    if match := _EDITOR.match(text):
        return ToolCall("open_task_editor", {"number": int(match["n"] or match["m"])})
    if _SHOW.match(text):
        arguments: dict[str, Any] = {"filter": "all"}
        for pattern, value in _FILTERS:
            if pattern.search(text):
                arguments["filter"] = value
                break
        if query := _QUERY.search(text):
            arguments["query"] = query["q"]
        return ToolCall("show_tasks", arguments)
    return None


def client_tool_reply(name: str, arguments: dict[str, Any], output: str) -> str:
    """The local model's answer once a client tool's result came back (or it was refused)."""
    try:
        result = json.loads(output)
    except (TypeError, ValueError):
        result = output
    if isinstance(result, dict) and result.get("ok") is False and result.get("message"):
        return str(result["message"])  # our own tool refused before asking the browser
    if isinstance(result, dict) and result.get("error"):
        return f"The dashboard could not do that: {result['error']}"
    if name == "show_tasks":
        shown = {"pending": "your pending tasks", "completed": "your completed tasks"}.get(
            str(arguments.get("filter")), "all your tasks"
        )
        query = arguments.get("query")
        return f"The board now shows {shown}" + (f" matching {query!r}." if query else ".")
    if name == "select_task":
        return f"Task #{arguments.get('number')} is selected on the board."
    if name == "open_task_editor":
        return f"Task #{arguments.get('number')} is open in the editor."
    return "Done."
