"""Task widgets: a list of tasks and a single-task card, with working buttons.

Both are built with `WidgetTemplate` from the `.widget` files beside this module (the
recommended way in openai-chatkit; the named widget classes are deprecated). Every task row
shows its number, title, status, priority and due date, and buttons that send these actions
(payload `{"number": <task number>}`):

    task.complete / task.reopen        server: change the status
    task.delete                        server: turn the row into a confirmation, in place
    task.delete.confirm / .cancel      server: delete the task / back to the normal row
    task.edit                          client (handler "client"): the dashboard opens its editor

The widget remembers what it shows through its keys (root "task-list" or "task-<n>", rows
"task-<n>"), so an action can re-read those tasks and rebuild the widget in place.

Each template is compiled (jinja2, ~5 ms) by the first widget that needs it, or before a
SnapStart snapshot (first_use.py): not at import, which every chatkit request would pay for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chatkit.widgets import WidgetRoot, WidgetTemplate

from todo_assistant.first_use import before_snapshot
from todo_assistant.tasks.models import Priority, Task, TaskStatus

RowState = Literal["normal", "confirm", "deleted"]
TemplateName = Literal["task_list", "task_card"]

_HERE = Path(__file__).resolve().parent

LIST_KEY = "task-list"
_TASK_KEY = re.compile(r"^task-(\d{1,9})$")

_PRIORITY_COLORS = {Priority.HIGH: "danger", Priority.MEDIUM: "warning", Priority.LOW: "secondary"}


@functools.cache
def _template(name: TemplateName) -> WidgetTemplate:
    return WidgetTemplate.from_file(str(_HERE / f"{name}.widget"))


@before_snapshot
def compile_templates() -> None:
    for name in ("task_list", "task_card"):
        _template(name)


def task_label(task: Task) -> str:
    return f"#{task.number} {task.title}"


def _row(task: Task, state: RowState) -> dict[str, Any]:
    completed = task.status is TaskStatus.COMPLETED
    return {
        "number": task.number,
        "label": task_label(task),
        "completed": completed,
        "state": state,
        "status_label": "Completed" if completed else "Pending",
        "status_color": "success" if completed else "info",
        "priority_label": f"{task.priority.value.capitalize()} priority",
        "priority_color": _PRIORITY_COLORS[task.priority],
        "due_label": f"Due {task.due_date.isoformat()}" if task.due_date else "",
    }


def _copy_line(task: Task) -> str:
    mark = "x" if task.status is TaskStatus.COMPLETED else " "
    due = f", due {task.due_date.isoformat()}" if task.due_date else ""
    return f"[{mark}] {task_label(task)} ({task.priority.value} priority{due})"


def task_list_widget(
    tasks: Iterable[Task], heading: str, states: Mapping[int, RowState] | None = None
) -> WidgetRoot:
    """The list widget; `states` puts single rows into the confirm or deleted state."""
    states = states or {}
    rows = [_row(task, states.get(task.number, "normal")) for task in tasks]
    return _template("task_list").build(
        {"heading": heading, "empty_text": "No tasks here.", "tasks": rows}
    )


def task_card_widget(task: Task, heading: str, state: RowState = "normal") -> WidgetRoot:
    return _template("task_card").build({"heading": heading, "task": _row(task, state)})


def task_list_copy_text(tasks: Iterable[Task], heading: str) -> str:
    return "\n".join([heading, *(_copy_line(task) for task in tasks)])


def task_card_copy_text(task: Task, heading: str) -> str:
    return f"{heading}: {_copy_line(task)}"


@dataclass(frozen=True)
class WidgetView:
    """What a task widget shows, read back from its keys and status header."""

    kind: Literal["list", "card"]
    numbers: tuple[int, ...]
    heading: str


def read_view(widget: WidgetRoot) -> WidgetView | None:
    """The task widget's view, or None when the widget is not one of ours."""
    tree = widget.model_dump()
    heading = str((tree.get("status") or {}).get("text") or "")
    if tree.get("type") == "ListView" and tree.get("key") == LIST_KEY:
        numbers = [_number(child.get("key")) for child in tree.get("children") or []]
        return WidgetView("list", tuple(n for n in numbers if n is not None), heading)
    if tree.get("type") == "Card" and (number := _number(tree.get("key"))) is not None:
        return WidgetView("card", (number,), heading)
    return None


def _number(key: object) -> int | None:
    match = _TASK_KEY.match(key) if isinstance(key, str) else None
    return int(match.group(1)) if match else None
