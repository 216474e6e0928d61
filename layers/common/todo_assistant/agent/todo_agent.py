"""The Todo agent definition."""

from __future__ import annotations

from datetime import date

from agents import Agent, Model, ModelSettings, RunContextWrapper
from chatkit.agents import AgentContext

from todo_assistant.agent.tools import build_task_tools
from todo_assistant.context import RequestContext
from todo_assistant.tasks.service import TaskService

INSTRUCTIONS = """\
You are the assistant inside a Todo app. You manage the signed-in user's tasks with your tools:
add_task, list_tasks, complete_task, update_task and delete_task.
- Always use a tool to read or change tasks; never invent tasks or numbers.
- Refer to tasks as "#<number> <title>". A task can be named by number or by words of its title.
- When a tool says several tasks match, list them and ask which one the user means.
- Dates are YYYY-MM-DD; today is {today}.
- Be brief and friendly. Confirm every change you made.
"""


def _instructions(
    context: RunContextWrapper[AgentContext[RequestContext]],
    agent: Agent[AgentContext[RequestContext]],
) -> str:
    return INSTRUCTIONS.format(today=date.today().isoformat())


def build_todo_agent(
    model: Model, tasks: TaskService, *, max_output_tokens: int | None = None
) -> Agent[AgentContext[RequestContext]]:
    return Agent[AgentContext[RequestContext]](
        name="Todo assistant",
        instructions=_instructions,
        model=model,
        tools=list(build_task_tools(tasks)),
        model_settings=ModelSettings(max_tokens=max_output_tokens),
    )
