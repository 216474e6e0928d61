"""Function tools of the Todo agent.

Every tool reads the user id from the ChatKit request context (a verified token), never from
its arguments, so a model cannot be talked into touching another user's tasks. Tool outputs
are single-line JSON: a newline in a tool output can end a ChatKit response early.

Each tool also streams a task widget (a list, or a card for the task it changed) with working
buttons (see `todo_assistant.widgets.tasks`); its output then says `"widget"` so the model
keeps its answer short.

The tools that change tasks go through `_once`: a call the user message's turn already made
(answered again with Retry) returns its recorded result instead of changing anything twice
(`agent/effects.py`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from agents import FunctionTool, RunContextWrapper, function_tool
from chatkit.agents import AgentContext
from pydantic import ValidationError

from todo_assistant.agent.effects import ShownCard, change_of
from todo_assistant.agent.sources import TodoAgentContext, remember_tasks
from todo_assistant.context import RequestContext
from todo_assistant.tasks.models import (
    Priority,
    StatusFilter,
    Task,
    TaskCreate,
    TaskPatch,
)
from todo_assistant.tasks.service import (
    AmbiguousTaskReference,
    NoTaskMatches,
    TaskNotFound,
    TaskService,
)
from todo_assistant.widgets.events import task_summary, tasks_changed
from todo_assistant.widgets.tasks import (
    RowState,
    task_card_copy_text,
    task_card_widget,
    task_list_copy_text,
    task_list_widget,
)

ToolContext = RunContextWrapper[AgentContext[RequestContext]]


def tool_result(ok: bool, message: str, **extra: Any) -> str:
    return json.dumps({"ok": ok, "message": message, **extra}, separators=(",", ":"))


def lookup_failure(error: LookupError) -> str:
    if isinstance(error, AmbiguousTaskReference):
        return tool_result(
            False,
            f"Several tasks match {error.reference!r}; ask which one by number.",
            candidates=[task_summary(t) for t in error.candidates],
        )
    if isinstance(error, TaskNotFound):
        return tool_result(False, f"There is no task #{error.number}.")
    if isinstance(error, NoTaskMatches):
        return tool_result(False, f"No task matches {error.reference!r}.")
    return tool_result(False, str(error))


def _parse_due(value: str | None) -> date | None:
    if not value:
        return None
    return date.fromisoformat(value)


async def _announce(ctx: ToolContext, action: str, task: Task) -> None:
    await ctx.context.stream(tasks_changed(action, task))


# Tools answer the model with `ok: false` for what the model can fix (unknown task, bad date).
# Anything else (the database failing after its retries) must not be papered over by a model
# reply: it fails the turn, and the client gets an error event with allow_retry.
async def _show_card(
    ctx: ToolContext, task: Task, heading: str, state: RowState = "normal"
) -> None:
    """Stream the single-task card beside the answer; the answer can then stay short."""
    remember_tasks(ctx.context, [task])
    await ctx.context.stream_widget(
        task_card_widget(task, heading, state), copy_text=task_card_copy_text(task, heading)
    )


@dataclass(frozen=True)
class Outcome:
    """What a task-changing call did: its result for the model and, when it changed a task,
    the change in words, the `tasks_changed` action and the card that shows it."""

    result: str
    card: ShownCard | None = None
    change: str | None = None
    effect: str | None = None


def _changed(
    task: Task, message: str, heading: str, change: str, effect: str, state: RowState = "normal"
) -> Outcome:
    """A call that changed `task`: the result naming it, its card, the change in words (see
    `change_of`) and the `tasks_changed` action."""
    return Outcome(
        tool_result(True, message, task=task_summary(task), widget="task_card"),
        ShownCard(task=task, heading=heading, state=state),
        change_of(change, task),
        effect,
    )


async def _once(
    ctx: ToolContext, tool: str, arguments: dict[str, Any], run: Callable[[], Awaitable[Outcome]]
) -> str:
    """Carry out a task-changing call, unless this user message's turn already made it."""
    context = ctx.context
    ledger = context.effects if isinstance(context, TodoAgentContext) else None
    key = ledger.claim(tool, arguments) if ledger is not None else None
    done = ledger.recorded(key) if ledger is not None and key is not None else None
    if done is not None:
        if done.card is not None:
            await _show_card(ctx, done.card.task, done.card.heading, done.card.state)
        return done.result
    outcome = await run()
    if ledger is not None and key is not None and outcome.change is not None:
        # Before anything streams: the record rides along with the card's write.
        await ledger.record(key, outcome.result, outcome.change, outcome.card)
    if outcome.card is not None:
        if outcome.effect is not None:
            await _announce(ctx, outcome.effect, outcome.card.task)
        await _show_card(ctx, outcome.card.task, outcome.card.heading, outcome.card.state)
    return outcome.result


def build_task_tools(service: TaskService) -> list[FunctionTool]:
    def user_of(ctx: ToolContext) -> str:
        return ctx.context.request_context.user_id

    @function_tool(failure_error_function=None)
    async def add_task(
        ctx: ToolContext,
        title: str,
        description: str | None = None,
        priority: Literal["low", "medium", "high"] = "medium",
        due_date: str | None = None,
    ) -> str:
        """Add a new task for the user.

        Args:
            title: Short title of the task, e.g. "Buy groceries".
            description: Optional longer details.
            priority: low, medium or high.
            due_date: Optional due date as YYYY-MM-DD.
        """
        try:
            data = TaskCreate(
                title=title,
                description=description,
                priority=Priority(priority),
                due_date=_parse_due(due_date),
            )
        except (ValidationError, ValueError) as error:
            return tool_result(False, f"Invalid task: {_first_error(error)}")

        async def add() -> Outcome:
            task = await service.add(user_of(ctx), data)
            due = f", due {task.due_date.isoformat()}" if task.due_date else ""
            message = f"Added task #{task.number}: {task.title}{due}"
            return _changed(task, message, "Task added", "added", "created")

        return await _once(ctx, "add_task", data.model_dump(mode="json"), add)

    @function_tool(failure_error_function=None)
    async def list_tasks(
        ctx: ToolContext,
        status: Literal["all", "pending", "completed"] = "all",
        text: str | None = None,
    ) -> str:
        """List the user's tasks, optionally filtered by status and by text in title/description.

        Args:
            status: all, pending or completed.
            text: Only tasks whose title or description contains this text.
        """
        tasks = await service.list(user_of(ctx), StatusFilter(status), text)
        label = "" if status == "all" else f"{status} "
        message = f"{len(tasks)} {label}task{'s' if len(tasks) != 1 else ''}"
        if text:
            message += f" matching {text!r}"
        heading = message[:1].upper() + message[1:]
        remember_tasks(ctx.context, tasks)
        await ctx.context.stream_widget(
            task_list_widget(tasks, heading), copy_text=task_list_copy_text(tasks, heading)
        )
        return tool_result(
            True, message, tasks=[task_summary(t) for t in tasks], widget="task_list"
        )

    @function_tool(failure_error_function=None)
    async def complete_task(ctx: ToolContext, task: str) -> str:
        """Mark a task as completed.

        Args:
            task: The task number (e.g. "3") or words from its title (e.g. "groceries").
        """

        async def complete() -> Outcome:
            try:
                number = await service.number_of(user_of(ctx), task)
                done, changed = await service.complete_if_pending(user_of(ctx), number)
            except LookupError as error:
                return Outcome(lookup_failure(error))
            if not changed:
                message = f"Task #{done.number} was already completed."
                return Outcome(
                    tool_result(True, message, task=task_summary(done), widget="task_card"),
                    ShownCard(task=done, heading="Task completed"),
                )
            message = f"Completed task #{done.number}: {done.title}"
            return _changed(done, message, "Task completed", "completed", "completed")

        return await _once(ctx, "complete_task", {"task": task}, complete)

    @function_tool(failure_error_function=None)
    async def update_task(
        ctx: ToolContext,
        task: str,
        title: str | None = None,
        description: str | None = None,
        priority: Literal["low", "medium", "high"] | None = None,
        due_date: str | None = None,
        status: Literal["pending", "completed"] | None = None,
    ) -> str:
        """Change a task's title, description, priority, due date or status.

        Args:
            task: The task number (e.g. "2") or words from its title.
            title: New title.
            description: New description.
            priority: New priority: low, medium or high.
            due_date: New due date as YYYY-MM-DD.
            status: pending or completed.
        """
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "title": title,
                "description": description,
                "priority": priority,
                "due_date": due_date,
                "status": status,
            }.items()
            if value is not None
        }
        if not changes:
            return tool_result(
                False, "Nothing to change: give a new title, priority, due date or status."
            )
        try:
            patch = TaskPatch.model_validate(changes)
        except ValidationError as error:
            return tool_result(False, f"Invalid change: {_first_error(error)}")

        async def update() -> Outcome:
            try:
                number = await service.number_of(user_of(ctx), task)
                updated = await service.update(user_of(ctx), number, patch)
            except LookupError as error:
                return Outcome(lookup_failure(error))
            message = f"Updated task #{updated.number}: {updated.title}"
            return _changed(updated, message, "Task updated", "updated", "updated")

        arguments = {"task": task, **patch.model_dump(mode="json", exclude_unset=True)}
        return await _once(ctx, "update_task", arguments, update)

    @function_tool(failure_error_function=None)
    async def delete_task(ctx: ToolContext, task: str) -> str:
        """Delete a task for good.

        Args:
            task: The task number (e.g. "4") or words from its title.
        """

        async def delete() -> Outcome:
            try:
                number = await service.number_of(user_of(ctx), task)
                deleted = await service.delete(user_of(ctx), number)
            except LookupError as error:
                return Outcome(lookup_failure(error))
            message = f"Deleted task #{deleted.number}: {deleted.title}"
            return _changed(deleted, message, "Task deleted", "deleted", "deleted", "deleted")

        return await _once(ctx, "delete_task", {"task": task}, delete)

    return [add_task, list_tasks, complete_task, update_task, delete_task]


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(error)
