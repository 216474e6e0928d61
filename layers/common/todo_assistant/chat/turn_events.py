"""What a turn's event stream passes through on its way out, and what runs as each tool
starts: the thread's title from its first message, our own ids for assistant messages, and
the tool-start hooks (Stop, metrics, progress)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from agents import Agent, RunContextWrapper, RunHooks, Tool
from chatkit.agents import AgentContext
from chatkit.types import (
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

from todo_assistant.agent.progress import announce_tool
from todo_assistant.context import RequestContext
from todo_assistant.metrics import current_turn

TITLE_MAX_CHARS = 60


def title_from_message(message: UserMessageItem) -> str | None:
    parts: list[str] = []
    for part in message.content:
        if isinstance(part, (UserMessageTextContent, UserMessageTagContent)):
            parts.append(part.text)
    text = " ".join(" ".join(parts).split())
    if not text:
        return None
    if len(text) <= TITLE_MAX_CHARS:
        return text
    return text[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


async def remap_assistant_ids(
    events: AsyncIterator[ThreadStreamEvent], new_id: Callable[[], str]
) -> AsyncIterator[ThreadStreamEvent]:
    """Give assistant messages our own ids.

    The message id comes from the model's output item id; Chat Completions and LiteLLM models
    emit the constant "__fake_id__", which would make every assistant message of a thread
    overwrite the previous one. Ids are replaced in order: added -> updates -> done.
    """
    current: dict[str, str] = {}
    async for event in events:
        if isinstance(event, ThreadItemAddedEvent) and isinstance(event.item, AssistantMessageItem):
            current[event.item.id] = mapped = new_id()
            event = ThreadItemAddedEvent(item=event.item.model_copy(update={"id": mapped}))
        elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in current:
            event = event.model_copy(update={"item_id": current[event.item_id]})
        elif isinstance(event, ThreadItemDoneEvent) and isinstance(
            event.item, AssistantMessageItem
        ):
            mapped = current.pop(event.item.id, "") or new_id()
            event = ThreadItemDoneEvent(item=event.item.model_copy(update={"id": mapped}))
        elif isinstance(event, ThreadItemRemovedEvent) and event.item_id in current:
            event = ThreadItemRemovedEvent(item_id=current.pop(event.item_id))
        yield event


class ToolStartHooks(RunHooks[AgentContext[RequestContext]]):
    """At every tool start: runs no tool once the user stopped the turn, counts the call on
    the turn's metrics (by tool name only) and shows a progress update ("Adding task…")."""

    async def on_tool_start(
        self,
        context: RunContextWrapper[AgentContext[RequestContext]],
        agent: Agent[AgentContext[RequestContext]],
        tool: Tool,
    ) -> None:
        stop = context.context.request_context.stop
        if stop is not None:
            await stop.before_tool()
        turn = current_turn()
        if turn is not None:
            turn.tool_called(tool.name)
        await announce_tool(context.context, tool.name)
