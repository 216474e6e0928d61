"""The Todo agent definition."""

from __future__ import annotations

from datetime import date

from agents import Agent, Model, ModelSettings, RunContextWrapper
from chatkit.agents import AgentContext

from todo_assistant.agent.client_tools import build_client_tools, stop_at_client_tool
from todo_assistant.agent.page_context import render_page_context
from todo_assistant.agent.tools import build_task_tools
from todo_assistant.context import RequestContext
from todo_assistant.tasks.service import TaskService

INSTRUCTIONS = """\
You are the assistant inside a Todo app. You manage the signed-in user's tasks with your tools:
add_task, list_tasks, complete_task, update_task and delete_task.
- Always use a tool to read or change tasks; never invent tasks or numbers.
- Refer to tasks as "#<number> <title>". A task can be named by number or by words of its title.
- When a tool says several tasks match, list them and ask which one the user means.
- Dates are YYYY-MM-DD.
- Be brief and friendly. Confirm every change you made.
- When a tool result says "widget", the user already sees those tasks in a widget with buttons:
  answer in one short sentence and do not repeat the task details.
- show_tasks, select_task and open_task_editor act on the dashboard in the user's browser (its
  board, selection and edit form); use them when the user asks for the board or the editor.
"""
# The only part that changes (daily) comes last: the instructions and tools before it are the
# same for every request, which is what OpenAI's prompt caching reuses.
TODAY_LINE = "Today is {today}.\n"


def _instructions(
    context: RunContextWrapper[AgentContext[RequestContext]],
    agent: Agent[AgentContext[RequestContext]],
) -> str:
    # Volatile parts last (prompt caching), and the page context after them, so nothing the
    # browser sent can pose as a rule above it.
    today = TODAY_LINE.format(today=date.today().isoformat())
    return INSTRUCTIONS + today + render_page_context(context.context.request_context.page_context)


def build_todo_agent(
    model: Model, tasks: TaskService, *, max_output_tokens: int | None = None
) -> Agent[AgentContext[RequestContext]]:
    return Agent[AgentContext[RequestContext]](
        name="Todo assistant",
        instructions=_instructions,
        model=model,
        tools=[*build_task_tools(tasks), *build_client_tools(tasks)],
        tool_use_behavior=stop_at_client_tool,
        model_settings=ModelSettings(max_tokens=max_output_tokens),
    )
