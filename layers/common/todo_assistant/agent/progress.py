"""Progress while a tool runs: a `ProgressUpdateEvent` ("Adding task…") at every tool start.

The front end shows it until the next item arrives, so the user sees something before the
answer. Called from the run hooks, so every tool (server or client) gets one.
"""

from __future__ import annotations

from chatkit.agents import AgentContext
from chatkit.icons import IconName
from chatkit.types import ProgressUpdateEvent

from todo_assistant.context import RequestContext

TOOL_PROGRESS: dict[str, tuple[str, IconName]] = {
    "add_task": ("Adding task…", "plus"),
    "list_tasks": ("Looking up your tasks…", "search"),
    "complete_task": ("Completing task…", "check"),
    "update_task": ("Updating task…", "write"),
    "delete_task": ("Deleting task…", "dots-horizontal"),
    "show_tasks": ("Updating the task board…", "desktop"),
    "select_task": ("Selecting the task…", "desktop"),
    "open_task_editor": ("Opening the task editor…", "write"),
}


def progress_for(tool_name: str) -> ProgressUpdateEvent:
    text, icon = TOOL_PROGRESS.get(tool_name, ("Working…", "bolt"))
    return ProgressUpdateEvent(text=text, icon=icon)


async def announce_tool(context: AgentContext[RequestContext], tool_name: str) -> None:
    await context.stream(progress_for(tool_name))
