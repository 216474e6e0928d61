"""What a change to a task tells others, whether a tool or a widget button made it:

- the front end: the `tasks_changed` client effect (it refreshes its task panel);
- the model, on its next turn: the hidden record a button click leaves in the thread.
"""

from __future__ import annotations

from typing import Any

from chatkit.types import ClientEffectEvent

from todo_assistant.tasks.models import Task

# Front ends listen for this client effect to refresh their task panel.
TASKS_CHANGED_EFFECT = "tasks_changed"
# Hidden context items that record a click start with this, for the agent (and the local model).
ACTION_RECORD_PREFIX = "Widget action:"


def task_summary(task: Task) -> dict[str, Any]:
    return task.model_dump(
        mode="json", include={"number", "title", "description", "priority", "due_date", "status"}
    )


def tasks_changed(action: str, task: Task) -> ClientEffectEvent:
    """The client effect of one change ("created", "completed", ...) to `task`."""
    return ClientEffectEvent(
        name=TASKS_CHANGED_EFFECT, data={"action": action, "task": task_summary(task)}
    )


def action_record_text(button: str, task_label: str, change: str) -> str:
    return (
        f"{ACTION_RECORD_PREFIX} the user pressed {button} on task "
        f"{task_label!r} in a task widget; the task is now {change}."
    )


def recall_last_action(texts: list[str]) -> str | None:
    """The latest recorded click, phrased for the user ("You pressed ..."), if any."""
    for text in reversed(texts):
        start = text.rfind(ACTION_RECORD_PREFIX)
        if start >= 0:
            line = text[start + len(ACTION_RECORD_PREFIX) :].strip().splitlines()[0]
            return line.replace("the user pressed", "You pressed", 1)
    return None
