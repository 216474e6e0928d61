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

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from agents import FunctionTool, FunctionToolResult, RunContextWrapper, function_tool
from agents.agent import ToolsToFinalOutputResult
from chatkit.agents import AgentContext, ClientToolCall
from chatkit.store import Store
from chatkit.types import ChatKitReq, ClientToolCallItem, ThreadsAddClientToolOutputReq

from todo_assistant.actions import ActionRejected
from todo_assistant.agent.tools import ToolContext, tool_result
from todo_assistant.context import RequestContext
from todo_assistant.tasks.service import TaskNotFound, TaskService

if TYPE_CHECKING:
    from todo_assistant.agent.intents import ToolCall

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


# -- the offline local model's side ---------------------------------------------------------

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
    """A phrase that asks for the dashboard ("show me only what's pending on the board").

    Only the local model reads phrases (its grammar, intents.py, is imported with it)."""
    from todo_assistant.agent.intents import ToolCall

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


async def check_client_tool_output(
    request: ChatKitReq, store: Store[RequestContext], context: RequestContext
) -> None:
    """Refuse `threads.add_client_tool_output` (404) unless the caller's thread is waiting on a
    client tool call, before anything is written. (The SDK would answer a bare ValueError.)"""
    if not isinstance(request, ThreadsAddClientToolOutputReq):
        return
    thread_id = request.params.thread_id
    await store.load_thread(thread_id, context=context)  # another user's thread: not found
    newest = await store.load_thread_items(thread_id, None, 1, "desc", context)
    waiting = newest.data[0] if newest.data else None
    if not (isinstance(waiting, ClientToolCallItem) and waiting.status == "pending"):
        raise ActionRejected(
            404, "not_found", "No client tool call is waiting for an answer in this thread."
        )
