"""What the chat composer offers: models, composer tools, attachment types (`GET /config`).

Plain data, no ChatKit or agent imports: the session function serves it and must start fast.
The chatkit function enforces the same tables (model allowlist, tool ids, MIME allowlist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from todo_assistant.config import Settings

# Types a user may attach, with the file extensions a file picker should offer for each.
ATTACHMENT_TYPES: dict[str, list[str]] = {
    "image/png": [".png"],
    "image/jpeg": [".jpg", ".jpeg"],
    "image/gif": [".gif"],
    "image/webp": [".webp"],
    "text/plain": [".txt"],
    "text/markdown": [".md", ".markdown"],
    "application/pdf": [".pdf"],
}
IMAGE_TYPES = frozenset(m for m in ATTACHMENT_TYPES if m.startswith("image/"))
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})


@dataclass(frozen=True, slots=True)
class ComposerTool:
    """A tool the user can pick in the composer; it forces one of the agent's tools."""

    id: str
    label: str
    short_label: str
    icon: str
    placeholder: str
    agent_tool: str

    def public(self) -> dict[str, str]:
        return {
            "id": self.id,
            "label": self.label,
            "shortLabel": self.short_label,
            "icon": self.icon,
            "placeholderOverride": self.placeholder,
        }


COMPOSER_TOOLS: tuple[ComposerTool, ...] = (
    ComposerTool("add-task", "Add a task", "Add", "plus", "What do you need to do?", "add_task"),
    ComposerTool(
        "list-tasks", "Find tasks", "Find", "search", "Which tasks? (or leave empty)", "list_tasks"
    ),
    ComposerTool(
        "complete-task", "Complete a task", "Done", "check", "Which task is done?", "complete_task"
    ),
)
COMPOSER_TOOLS_BY_ID: dict[str, ComposerTool] = {tool.id: tool for tool in COMPOSER_TOOLS}


def model_label(model_id: str) -> str:
    return model_id.removeprefix("openai/").replace("-", " ").upper().replace("GPT ", "GPT-")


def attachments_enabled(settings: Settings) -> bool:
    if settings.attachments_enabled is not None:
        return settings.attachments_enabled
    # The bytes live in the bucket: without one there is nowhere to upload to.
    return bool(settings.large_item_bucket)


def public_config(settings: Settings) -> dict[str, Any]:
    """What a front end needs to configure ChatKit's composer (no secrets, same for everyone)."""
    default = settings.default_model
    return {
        "auth_mode": settings.auth_mode,
        "models": [
            {"id": model, "label": model_label(model), "default": model == default}
            for model in settings.allowed_model_ids
        ],
        "composer_tools": [tool.public() for tool in COMPOSER_TOOLS],
        "attachments": {
            "enabled": attachments_enabled(settings),
            "max_bytes": settings.attachment_max_bytes,
            "accept": ATTACHMENT_TYPES,
        },
    }
