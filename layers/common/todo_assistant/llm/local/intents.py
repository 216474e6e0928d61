"""Plain-language requests -> Todo tool calls, for the offline local model.

This is deliberately a small, predictable grammar: it covers the everyday phrasings of the
five task operations and answers with help for anything else. A real model replaces it by
configuration, never by code changes.

Every message is read in time linear in its length, so crafted text cannot stall the server:
whitespace is collapsed first (no pattern ever sees a run of spaces), messages longer than
MAX_REQUEST_CHARS are not parsed at all, no pattern is searched with an unbounded wildcard
(list requests and status words are found on tokens), and trailing politeness is stripped
without regular expressions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from todo_assistant.llm.local.dates import parse_date, split_due_date

HELP_TEXT = (
    'I can manage your tasks. Try: "Add a task to buy groceries", "Show me all my tasks", '
    '"What\'s pending?", "Mark task 3 as complete", "Rename task 2 to call mom" or '
    '"Delete the meeting task".'
)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


_F = re.IGNORECASE


# Task requests are short; longer text is not a request (and bounds the work per message).
MAX_REQUEST_CHARS = 1_000
_TRAILING_PUNCTUATION = " ,.!?"
_TRAILING_POLITENESS = ("thank you", "please", "thanks")
_LEADING = re.compile(r"(?:hey|hi|ok|okay|please|can you|could you|would you|pls)[,! ]+", _F)
_LEADING_POLITE = re.compile(r"(?:please|kindly) +", _F)


def normalise(text: str) -> str:
    """Collapse every run of whitespace to one space (linear, and no pattern sees a run)."""
    return " ".join(text.split())


def _clean(text: str) -> str:
    text = normalise(text)
    if match := _LEADING.match(text):
        text = text[match.end() :]
    if match := _LEADING_POLITE.match(text):
        text = text[match.end() :]
    text = text.rstrip(_TRAILING_PUNCTUATION)
    lowered = text.lower()
    for word in _TRAILING_POLITENESS:
        if lowered.endswith(word) and not text[: -len(word)][-1:].isalnum():
            text = text[: -len(word)].rstrip(_TRAILING_PUNCTUATION)
            break
    return text.strip()


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", text.lower())


_STATUS_WORDS = {
    "pending": "pending",
    "open": "pending",
    "remaining": "pending",
    "incomplete": "pending",
    "unfinished": "pending",
    "outstanding": "pending",
    "left": "pending",
    "to do": "pending",
    "todo": "pending",
    "completed": "completed",
    "complete": "completed",
    "done": "completed",
    "finished": "completed",
}

_COMPLETE = [
    re.compile(
        r"^(?:mark|set|flag)\s+(?P<ref>.+?)\s+(?:as\s+)?(?:complete|completed|done|finished)$", _F
    ),
    re.compile(
        r"^(?:complete|finish|check off|tick off|close|finished|completed)\s+(?P<ref>.+)$", _F
    ),
    re.compile(
        r"^i\s+(?:have\s+|'ve\s+|just\s+)?(?:finished|completed|done with|did)\s+(?P<ref>.+)$", _F
    ),
    re.compile(r"^(?P<ref>.+?)\s+is\s+(?:done|complete|completed|finished)$", _F),
]
_REOPEN = re.compile(
    r"^(?:mark|set)\s+(?P<ref>.+?)\s+(?:as\s+)?(?:pending|not done|incomplete|open|undone)$", _F
)
_DELETE = re.compile(
    r"^(?:delete|remove|drop|cancel|erase|get rid of|trash)\s+(?P<ref>.+?)"
    r"(?:\s+from\s+(?:my\s+)?(?:list|tasks|todo list|to-do list))?$",
    _F,
)
_RENAME = [
    re.compile(r"^(?:rename|retitle)\s+(?P<ref>.+?)\s+(?:to|as)\s+(?P<title>.+)$", _F),
    re.compile(
        r"^(?:change|update|edit|set)\s+(?:the\s+)?(?:title|name)\s+of\s+(?P<ref>.+?)\s+to\s+(?P<title>.+)$",
        _F,
    ),
    re.compile(r"^(?:change|update|edit)\s+(?P<ref>.+?)\s+to\s+(?:say\s+)?(?P<title>.+)$", _F),
]
_PRIORITY = re.compile(
    r"^(?:set|make|change|mark)\s+(?:the\s+)?(?:priority\s+of\s+)?(?P<ref>.+?)\s+"
    r"(?:priority\s+)?(?:to\s+|as\s+)?(?P<priority>high|medium|low|urgent)(?:\s+priority)?$",
    _F,
)
_DUE = re.compile(
    r"^(?:set|change|move)\s+(?:the\s+)?due\s+date\s+of\s+(?P<ref>.+)\s+to\s+(?P<due>.+)$", _F
)
_RESCHEDULE = re.compile(
    r"^(?:move|push|postpone|reschedule)\s+(?P<ref>.+?)\s+(?:to|until|till)\s+(?P<due>.+)$", _F
)
_LIST_VERBS = frozenset({"show", "list", "display", "see", "view", "get", "what're"})
_LIST_VERB_PAIRS = frozenset({("give", "me"), ("what", "are"), ("which", "are"), ("how", "many")})
_LIST_NOUNS = frozenset(
    {"task", "tasks", "todo", "todos", "to-do", "to-dos", "list", "item", "items"}
)
_PENDING_QUESTION = re.compile(
    r"^(?:what'?s|what is|what do i have|anything)\s*(?:still\s+)?"
    r"(?P<status>pending|left|remaining|open|to do|todo|outstanding|done|completed|finished)?"
    r"(?:\s+(?:to do|left|on my list|for me|today))?$",
    _F,
)
_TEXT_FILTER = re.compile(
    r"\b(?:about|containing|with|matching|mentioning|related to)\s+(?P<text>.+)$", _F
)
_ADD = [
    re.compile(
        r"^(?:add|create|new|make|put|save)\s+(?:a\s+|an\s+|one\s+)?(?:new\s+)?"
        r"(?:(?P<priority>high|low|medium|urgent)(?:[- ]priority)?\s+)?"
        r"(?:task|todo|to-do|item|reminder|entry)?\s*(?:to\s+|:\s*|called\s+|named\s+|for\s+|that says\s+)?"
        r"(?P<title>.+)$",
        _F,
    ),
    re.compile(
        r"^(?:remind me to|i need to|i have to|i must|don't forget to|remember to)\s+(?P<title>.+)$",
        _F,
    ),
]
_ADD_SUFFIX = re.compile(
    r"\s+(?:to|on|in)\s+(?:my\s+|the\s+)?(?:task\s+list|todo\s+list|to-do\s+list|list|tasks|todos)$",
    _F,
)
# Found by its word alone; the separators before it are trimmed without a pattern (a
# leading `[\s,(]*` would be re-tried at every position of a long run of commas).
_PRIORITY_IN_TEXT = re.compile(
    r"\b(?P<priority>high|low|medium|urgent)(?:[- ]priority)?\)?(?= |$)", _F
)
_ADD_VERB = re.compile(r"(?:add|create|new|make|put|save)\b", _F)


def _due_date(text: str, today: date) -> str | None:
    found = parse_date(_words(text), today)
    return found.isoformat() if found else None


def _is_list_request(words: list[str]) -> bool:
    for index, word in enumerate(words):
        if word in _LIST_VERBS:
            start = index + 1
        elif tuple(words[index : index + 2]) in _LIST_VERB_PAIRS:
            start = index + 2
        else:
            continue
        return any(noun in _LIST_NOUNS for noun in words[start:])
    return False


def _priority(word: str) -> str:
    return "high" if word.lower() == "urgent" else word.lower()


def _strip_quotes(text: str) -> str:
    return text.strip().strip("\"'“”‘’").strip()  # noqa: RUF001


def parse_request(
    message: str, today: date | None = None, *, max_chars: int = MAX_REQUEST_CHARS
) -> ToolCall | None:
    """The tool call a plain request asks for, or None when it is not a task request."""
    if len(message) > max_chars:
        return None
    today = today or date.today()
    text = _clean(message)
    if not text:
        return None

    if match := _REOPEN.match(text):
        return ToolCall("update_task", {"task": match["ref"], "status": "pending"})
    for pattern in _COMPLETE:
        if match := pattern.match(text):
            return ToolCall("complete_task", {"task": match["ref"]})
    if match := _DELETE.match(text):
        return ToolCall("delete_task", {"task": match["ref"]})
    for pattern in (_DUE, _RESCHEDULE):
        if (match := pattern.match(text)) and (due := _due_date(match["due"], today)):
            return ToolCall("update_task", {"task": match["ref"], "due_date": due})
    if match := _PRIORITY.match(text):
        return ToolCall(
            "update_task", {"task": match["ref"], "priority": _priority(match["priority"])}
        )
    for pattern in _RENAME:
        if match := pattern.match(text):
            return ToolCall(
                "update_task", {"task": match["ref"], "title": _strip_quotes(match["title"])}
            )

    if match := _PENDING_QUESTION.match(text):
        status = _STATUS_WORDS.get((match["status"] or "pending").lower(), "pending")
        return ToolCall("list_tasks", {"status": status})
    words = _words(text)
    if _is_list_request(words) and not _ADD_VERB.match(text):
        arguments: dict[str, Any] = {"status": "all"}
        present = set(words)
        for word, status in _STATUS_WORDS.items():
            if word in present:
                arguments["status"] = status
                break
        if found := _TEXT_FILTER.search(text):
            arguments["text"] = _strip_quotes(found["text"])
        return ToolCall("list_tasks", arguments)

    for pattern in _ADD:
        if match := pattern.match(text):
            lead = match.groupdict().get("priority")
            return _add_call(match["title"], today, _priority(lead) if lead else None)
    return None


def _without_priority(title: str) -> tuple[str, str | None]:
    found = _PRIORITY_IN_TEXT.search(title)
    if found is None:
        return title, None
    before = title[: found.start()].rstrip(" ,(")
    if before.lower().endswith(" with") or before.lower() == "with":
        before = before[: -len("with")].rstrip(" ,(")
    return (before + title[found.end() :]).strip(), _priority(found["priority"])


def _add_call(raw_title: str, today: date, priority: str | None) -> ToolCall | None:
    title = _ADD_SUFFIX.sub("", raw_title.strip())
    arguments: dict[str, Any] = {"priority": priority} if priority else {}
    # A due date and a priority may follow the title in either order.
    due: date | None = None
    found: str | None = None
    for _ in range(2):
        if due is None:
            title, due = split_due_date(title, today)
        if found is None:
            title, found = _without_priority(title)
    if due is not None:
        arguments["due_date"] = due.isoformat()
    if found is not None:
        arguments["priority"] = found
    title = _strip_quotes(_ADD_SUFFIX.sub("", title)).rstrip(",.;:")
    if not title:
        return None
    return ToolCall("add_task", {"title": title[:1].upper() + title[1:], **arguments})


def small_talk(message: str) -> str | None:
    text = re.sub(r"[^\w\s']", "", message).strip().lower()
    if re.fullmatch(r"(hi|hello|hey|good (morning|afternoon|evening))( there)?", text):
        return "Hello! " + HELP_TEXT
    if re.fullmatch(r"(thanks|thank you|thx|cheers|great|perfect|ok|okay|cool)", text):
        return "You're welcome! Anything else on your list?"
    if re.search(r"\b(help|what can you do)\b", text):
        return HELP_TEXT
    return None


def _task_line(task: dict[str, Any]) -> str:
    mark = "x" if task.get("status") == "completed" else " "
    details = []
    if task.get("priority") and task["priority"] != "medium":
        details.append(f"{task['priority']} priority")
    if task.get("due_date"):
        details.append(f"due {task['due_date']}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"- [{mark}] #{task['number']} {task['title']}{suffix}"


def describe_tool_result(tool_name: str, output: str) -> str:
    """The assistant's reply after a tool ran, written from the tool's JSON output."""
    try:
        result = json.loads(output)
    except (TypeError, ValueError):
        return "Done." if output else "Something went wrong, please try again."
    if not isinstance(result, dict):
        return str(result)
    message = str(result.get("message", "Done."))
    if "candidates" in result:
        lines = [_task_line(t) for t in result["candidates"]]
        return "\n".join([message, *lines])
    if tool_name == "list_tasks" and result.get("ok"):
        tasks = result.get("tasks", [])
        if not tasks:
            return (
                "You have no matching tasks."
                if "matching" in message
                else "You have no tasks here yet."
            )
        header = f"You have {message}:"
        return "\n".join([header, *[_task_line(t) for t in tasks]])
    return message + ("." if result.get("ok") and not message.endswith(".") else "")
