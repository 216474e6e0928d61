"""What the composer adds to a user message, turned into model input: @-mentions and files.

ChatKit's default converter raises NotImplementedError on both (and since every turn converts
the thread's history, one tagged message would break every later turn). Here:

- a tag of the Tasks group becomes "@<tag> refers to task #3 'Buy milk' (status ...)", looked
  up among the caller's own tasks by `tag.data.number`; any other number says the task does
  not exist, so a tag can never reveal someone else's task;
- an image becomes an `input_image` with a short-lived presigned GET URL;
- a text or Markdown file becomes its text (capped), wrapped in an <attachment> element;
- a PDF becomes a short note naming the file (its text is not extracted).

A file that is missing, oversized or of the wrong type becomes a note saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chatkit.types import Attachment, UserMessageTagContent
from openai.types.responses import ResponseInputContentParam, ResponseInputTextParam

from todo_assistant.agent.history import HistoryConverter
from todo_assistant.composer_options import IMAGE_TYPES, TEXT_TYPES
from todo_assistant.context import RequestContext
from todo_assistant.store.attachments import AttachmentRejected, S3AttachmentStore
from todo_assistant.tasks.models import Task
from todo_assistant.tasks.repository import TaskNotFound
from todo_assistant.tasks.service import TaskService

TEXT_ATTACHMENT_MAX_BYTES = 32_000
TAG_TEXT_MAX_CHARS = 200
ATTACHMENT_OPEN = "<attachment "
ATTACHMENT_CLOSE = "</attachment>"
MISSING_TASK = "a task the user mentioned that does not exist"

_TAG_LINE = re.compile(r"^@(?P<tag>.+?) refers to (?:task #(?P<number>\d+)\b|" + MISSING_TASK + ")")
_TASK_ID = re.compile(r"^task-(\d{1,9})$")
_ATTACHMENT = re.compile(
    r"^<attachment name=\"(?P<name>[^\"]*)\" type=\"(?P<type>[^\"]*)\"[^>]*>\n(?P<text>.*?)\n?"
    + ATTACHMENT_CLOSE
    + r"$",
    re.S,
)


def _text(text: str) -> ResponseInputTextParam:
    return ResponseInputTextParam(type="input_text", text=text)


def _quoted_attribute(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")[:TAG_TEXT_MAX_CHARS]


def tag_task_number(tag: UserMessageTagContent) -> int | None:
    """The task number a tag names (`data.number`, else an id `task-<n>`)."""
    raw: Any = tag.data.get("number")
    if raw is None and (match := _TASK_ID.match(tag.id)):
        raw = match.group(1)
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw > 0 else None
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 9:
        return int(raw.strip()) or None
    return None


def describe_task(task: Task) -> str:
    details = [f"status: {task.status.value}", f"priority: {task.priority.value}"]
    if task.due_date:
        details.append(f"due: {task.due_date.isoformat()}")
    return f"task #{task.number} '{task.title}' ({', '.join(details)})"


@dataclass
class ComposerInput:
    """Converts one caller's tags and files; built per turn (it knows the caller)."""

    tasks: TaskService
    attachments: S3AttachmentStore | None
    context: RequestContext
    _tasks_seen: dict[int, Task | None] = field(default_factory=dict)

    async def _own_task(self, number: int) -> Task | None:
        if number not in self._tasks_seen:
            try:
                self._tasks_seen[number] = await self.tasks.get(self.context.user_id, number)
            except TaskNotFound:
                self._tasks_seen[number] = None
        return self._tasks_seen[number]

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputTextParam:
        label = " ".join(tag.text.split())[:TAG_TEXT_MAX_CHARS]
        number = tag_task_number(tag)
        task = await self._own_task(number) if number is not None else None
        if task is None:
            return _text(f"@{label} refers to {MISSING_TASK}.")
        return _text(f"@{label} refers to {describe_task(task)}.")

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        name = _quoted_attribute(attachment.name)
        files = self.attachments
        if files is None:
            return _text(f"[The user attached {name!r}, but attachments are not enabled.]")
        try:
            if attachment.mime_type in IMAGE_TYPES:
                await files.check_uploaded(attachment, self.context)
                url = await files.download_url(attachment.id, self.context)
                return {"type": "input_image", "detail": "auto", "image_url": url}
            if attachment.mime_type in TEXT_TYPES:
                data, truncated = await files.read_bytes(
                    attachment, self.context, TEXT_ATTACHMENT_MAX_BYTES
                )
                text = data.decode("utf-8", errors="replace")
                if truncated:
                    # Cut at a line end so the model never sees half a line as a whole one.
                    text = text.rsplit("\n", 1)[0]
                note = ' truncated="true"' if truncated else ""
                return _text(
                    f'{ATTACHMENT_OPEN}name="{name}" type="{attachment.mime_type}"{note}>\n'
                    f"{text}\n{ATTACHMENT_CLOSE}"
                )
            size = await files.check_uploaded(attachment, self.context)
            return _text(
                f"[The user attached the {attachment.mime_type} file {name!r} ({size} bytes); "
                "its contents are not available to you.]"
            )
        except AttachmentRejected as error:
            return _text(f"[The user attached {name!r}, but it cannot be read: {error}]")


class ComposerInputMixin:
    """The two conversions ChatKit leaves to the integration, for a ThreadItemConverter
    subclass: set `composer` (one caller's) before converting."""

    composer: ComposerInput

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        return await self.composer.tag_to_message_content(tag)

    async def attachment_to_message_content(
        self, attachment: Attachment
    ) -> ResponseInputContentParam:
        return await self.composer.attachment_to_message_content(attachment)


class ComposerInputConverter(ComposerInputMixin, HistoryConverter):
    """History for every model path, with the caller's tags and attachments handled."""

    def __init__(self, composer: ComposerInput) -> None:
        self.composer = composer


# -- reading it back (the local model) --------------------------------------------------------
def is_attachment_text(text: str) -> bool:
    return text.startswith(ATTACHMENT_OPEN)


def parse_mentions(text: str) -> dict[str, int | None]:
    """Tag text -> task number (None: no such task) from a converted @-mention context."""
    found: dict[str, int | None] = {}
    for line in text.splitlines():
        if match := _TAG_LINE.match(line):
            found[match["tag"]] = int(match["number"]) if match["number"] else None
    return found


def parse_attachment_text(text: str) -> tuple[str, str, str] | None:
    """(name, MIME type, text) of a converted text attachment."""
    match = _ATTACHMENT.match(text)
    return (match["name"], match["type"], match["text"]) if match else None
