"""Client tools: the agent asks the dashboard to do what only the browser can.

    show_tasks        {"filter": "all"|"pending"|"completed", "query"?: str}  switch the board
    select_task       {"number": int}   select and highlight a task on the board
    open_task_editor  {"number": int}   open the task's edit form

A tool validates its arguments (a task number must be one of the caller's own tasks), then
sets `client_tool_call` on the ChatKit agent context; `stop_at_client_tool` ends the run there,
so the turn ends on a pending `client_tool_call` item. The browser (ChatKit's `onClientTool`)
does the work and answers with `threads.add_client_tool_output`, which resumes the turn with
that output as the tool's result. A failed validation is an ordinary tool error: no call
reaches the browser and the model explains.
"""

from __future__ import annotations

from typing import Any, Literal

from agents import FunctionTool, FunctionToolResult, RunContextWrapper, function_tool
from agents.agent import ToolsToFinalOutputResult
from chatkit.agents import AgentContext, ClientToolCall

from todo_assistant.agent.tools import ToolContext, tool_result
from todo_assistant.context import RequestContext
from todo_assistant.tasks.service import TaskNotFound, TaskService

CLIENT_TOOL_NAMES = frozenset({"show_tasks", "select_task", "open_task_editor"})
QUERY_MAX_CHARS = 100


def build_client_tools(service: TaskService) -> list[FunctionTool]:
    async def ask_browser(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> None:
        ctx.context.client_tool_call = ClientToolCall(name=name, arguments=arguments)

    async def own_task(ctx: ToolContext, number: int) -> str | None:
        """The task's title, or None when the caller has no such task."""
        try:
            task = await service.get(ctx.context.request_context.user_id, number)
        except TaskNotFound:
            return None
        return task.title

    @function_tool
    async def show_tasks(
        ctx: ToolContext,
        filter: Literal["all", "pending", "completed"] = "all",
        query: str | None = None,
    ) -> str:
        """Switch the dashboard's task board (in the user's browser) to a filter and search.

        Use it when the user wants the board, dashboard or list view to show something;
        use list_tasks to answer in the chat instead.

        Args:
            filter: all, pending or completed.
            query: Optional words to search for in task titles.
        """
        arguments: dict[str, Any] = {"filter": filter}
        if query and query.strip():
            arguments["query"] = query.strip()[:QUERY_MAX_CHARS]
        await ask_browser(ctx, "show_tasks", arguments)
        return tool_result(True, "Asked the dashboard to update the task board.")

    @function_tool
    async def select_task(ctx: ToolContext, number: int) -> str:
        """Select and highlight one of the user's tasks on the dashboard's board.

        Args:
            number: The task number.
        """
        if await own_task(ctx, number) is None:
            return tool_result(False, f"There is no task #{number}.")
        await ask_browser(ctx, "select_task", {"number": number})
        return tool_result(True, f"Asked the dashboard to select task #{number}.")

    @function_tool
    async def open_task_editor(ctx: ToolContext, number: int) -> str:
        """Open the dashboard's edit form for one of the user's tasks.

        Args:
            number: The task number.
        """
        if await own_task(ctx, number) is None:
            return tool_result(False, f"There is no task #{number}.")
        await ask_browser(ctx, "open_task_editor", {"number": number})
        return tool_result(True, f"Asked the dashboard to open task #{number} for editing.")

    return [show_tasks, select_task, open_task_editor]


def stop_at_client_tool(
    context: RunContextWrapper[AgentContext[RequestContext]], results: list[FunctionToolResult]
) -> ToolsToFinalOutputResult:
    """End the run when a tool asked the browser for something; otherwise let the model go on."""
    if context.context.client_tool_call is not None:
        return ToolsToFinalOutputResult(is_final_output=True, final_output="")
    return ToolsToFinalOutputResult(is_final_output=False)
