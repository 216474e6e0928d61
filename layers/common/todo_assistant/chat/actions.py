"""Widget actions: the task widgets' buttons, handled for the caller's own tasks only.

`TaskActions.handle` validates an action against the widget that sent it and the caller's
tasks, applies it, and returns what changed: the widget rebuilt in place, the `tasks_changed`
client effect and a hidden context item that tells the agent, on the next turn, what the user
clicked. It writes nothing itself; the server saves the outcome (streamed or sync path).
Anything wrong (unknown type, forged payload, a button for a task that is gone, a sender that
is not a task widget) raises `ActionRejected` before any write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from chatkit.actions import Action
from chatkit.types import ClientEffectEvent, HiddenContextItem, ThreadMetadata, WidgetItem
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from todo_assistant.context import RequestContext
from todo_assistant.errors import Refusal
from todo_assistant.tasks.models import Task, TaskPatch, TaskStatus
from todo_assistant.tasks.service import TaskNotFound, TaskService
from todo_assistant.widgets.events import action_record_text, tasks_changed
from todo_assistant.widgets.tasks import (
    RowState,
    WidgetView,
    read_view,
    task_card_copy_text,
    task_card_widget,
    task_label,
    task_list_copy_text,
    task_list_widget,
)

COMPLETE = "task.complete"
REOPEN = "task.reopen"
DELETE = "task.delete"
DELETE_CONFIRM = "task.delete.confirm"
DELETE_CANCEL = "task.delete.cancel"
SERVER_ACTIONS = (COMPLETE, REOPEN, DELETE, DELETE_CONFIRM, DELETE_CANCEL)


class ActionRejected(Refusal):
    """A widget action refused: a 4xx JSON answer on the sync path, an error event when
    streamed."""


class TaskActionPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: Annotated[int, Field(strict=True, ge=1, le=999_999_999)]


@dataclass(frozen=True)
class ActionOutcome:
    item: WidgetItem
    effect: ClientEffectEvent | None = None
    record: HiddenContextItem | None = None


_CARD_HEADINGS = {
    COMPLETE: "Task completed",
    REOPEN: "Task reopened",
    DELETE: "Delete this task?",
    DELETE_CONFIRM: "Task deleted",
    DELETE_CANCEL: "Task",
}


class TaskActions:
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    async def handle(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
        record_id: str,
    ) -> ActionOutcome:
        if action.type not in SERVER_ACTIONS:
            raise ActionRejected(
                400, "unknown_action", f"Unknown action type {action.type[:60]!r}."
            )
        view = read_view(sender.widget) if sender is not None else None
        if sender is None or view is None:
            raise ActionRejected(
                400, "not_a_task_widget", "Task actions must be sent from a task widget."
            )
        try:
            number = TaskActionPayload.model_validate(action.payload).number
        except ValidationError:
            raise ActionRejected(
                400, "invalid_payload", 'The action needs {"number": <task number>}.'
            ) from None
        if number not in view.numbers:
            raise ActionRejected(
                400, "invalid_payload", f"Task #{number} is not shown in this widget."
            )

        user = context.user_id
        try:
            task, state, change = await self._apply(action.type, user, number)
        except TaskNotFound:
            raise ActionRejected(
                404, "task_not_found", f"Task #{number} no longer exists; it may have been deleted."
            ) from None

        item = await self._rebuilt(sender, view, action.type, task, state, user)
        if change is None:
            return ActionOutcome(item=item)
        effect = tasks_changed(change, task)
        record = HiddenContextItem(
            id=record_id,
            thread_id=thread.id,
            created_at=datetime.now(),
            content=action_record_text(_BUTTONS[action.type], task_label(task), change),
        )
        return ActionOutcome(item=item, effect=effect, record=record)

    async def _apply(self, kind: str, user: str, number: int) -> tuple[Task, RowState, str | None]:
        """(task as shown now, its row state, the change made: an effect action or None)."""
        if kind == COMPLETE:
            task, changed = await self.tasks.complete_if_pending(user, number)
            return task, "normal", "completed" if changed else None  # a second click: nothing
        if kind == REOPEN:
            task = await self.tasks.get(user, number)
            if task.status is TaskStatus.PENDING:
                return task, "normal", None
            patch = TaskPatch(status=TaskStatus.PENDING)
            return await self.tasks.update(user, number, patch), "normal", "reopened"
        if kind == DELETE_CONFIRM:
            return await self.tasks.delete(user, number), "deleted", "deleted"
        state: RowState = "confirm" if kind == DELETE else "normal"
        return await self.tasks.get(user, number), state, None

    async def _rebuilt(
        self,
        sender: WidgetItem,
        view: WidgetView,
        kind: str,
        task: Task,
        state: RowState,
        user: str,
    ) -> WidgetItem:
        if view.kind == "card":
            heading = _CARD_HEADINGS[kind]
            widget = task_card_widget(task, heading, state)
            copy_text = task_card_copy_text(task, heading)
        else:
            # Re-read the other rows too: the list shows what is true now. Rows of tasks
            # deleted elsewhere drop out; the row just deleted stays, marked deleted.
            current = {t.number: t for t in await self.tasks.list(user)}
            current[task.number] = task
            shown = [current[n] for n in view.numbers if n in current]
            widget = task_list_widget(shown, view.heading, {task.number: state})
            copy_text = task_list_copy_text(shown, view.heading)
        return sender.model_copy(update={"widget": widget, "copy_text": copy_text})


_BUTTONS = {COMPLETE: "Complete", REOPEN: "Reopen", DELETE_CONFIRM: "Delete (confirmed)"}
