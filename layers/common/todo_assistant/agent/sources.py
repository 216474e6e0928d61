"""Sources: answers that name a task ("#3") link to it with an entity annotation.

The tools remember the tasks they showed this turn on the agent context; when the assistant
message is done, each first mention of one of them ("#<number>") gets an `EntitySource`
annotation (id `task-<number>`, title "#<number> <title>"), so the front end can open the task
(`entities.onClick`). Only tasks a tool returned to this user this turn are linked: the text
of an answer never makes the backend reveal or link anything else.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import Annotated

from chatkit.agents import AgentContext
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageItem,
    EntitySource,
    ThreadItemDoneEvent,
    ThreadStreamEvent,
)
from pydantic import Field, SkipValidation

from todo_assistant.agent.effects import EffectsLedger
from todo_assistant.context import RequestContext
from todo_assistant.tasks.models import Task

_TASK_MENTION = re.compile(r"#(\d{1,9})\b")


class TodoAgentContext(AgentContext[RequestContext]):
    """The ChatKit agent context plus the tasks this turn's tools showed (number -> title),
    the user message the turn answers, and what its tools already changed (agent/effects.py)."""

    shown_tasks: dict[int, str] = Field(default_factory=dict)
    user_message_id: str | None = None
    effects: Annotated[EffectsLedger | None, SkipValidation] = None


def remember_tasks(context: AgentContext[RequestContext], tasks: Iterable[Task]) -> None:
    if isinstance(context, TodoAgentContext):
        context.shown_tasks.update({task.number: task.title for task in tasks})


def task_source(number: int, title: str) -> EntitySource:
    return EntitySource(
        id=f"task-{number}",
        title=f"#{number} {title}",
        icon="check-circle",
        label="Task",
        interactive=True,
        data={"number": number},
    )


def task_annotations(text: str, shown: dict[int, str]) -> list[Annotation]:
    annotations: list[Annotation] = []
    linked: set[int] = set()
    for mention in _TASK_MENTION.finditer(text):
        number = int(mention.group(1))
        if number in shown and number not in linked:
            linked.add(number)
            source = task_source(number, shown[number])
            annotations.append(Annotation(source=source, index=mention.end()))
    return annotations


def annotate(item: AssistantMessageItem, shown: dict[int, str]) -> AssistantMessageItem:
    content = [
        AssistantMessageContent(
            text=part.text, annotations=[*part.annotations, *task_annotations(part.text, shown)]
        )
        for part in item.content
    ]
    return item.model_copy(update={"content": content})


async def with_task_sources(
    events: AsyncIterator[ThreadStreamEvent], context: TodoAgentContext
) -> AsyncIterator[ThreadStreamEvent]:
    async for event in events:
        if (
            isinstance(event, ThreadItemDoneEvent)
            and isinstance(event.item, AssistantMessageItem)
            and context.shown_tasks
        ):
            event = ThreadItemDoneEvent(item=annotate(event.item, context.shown_tasks))
        yield event
