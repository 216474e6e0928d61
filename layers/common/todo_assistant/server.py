"""The ChatKit server: runs the Todo agent for each user message and persists the thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from agents import Agent, RunConfig, RunContextWrapper, RunHooks, Runner, Tool
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer
from chatkit.store import Store
from chatkit.types import (
    AssistantMessageItem,
    FeedbackKind,
    Page,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

from todo_assistant.context import RequestContext
from todo_assistant.metrics import current_turn
from todo_assistant.store.chatkit_store import TodoStore

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


class _TurnStartStore:
    """The store, except for the first newest-items read of a turn.

    `stream_agent_response` starts by reading the thread's two newest items to resume an open
    workflow; `respond` read the newest page a moment before, with no write in between, so that
    one read is answered from it (one DynamoDB Query less per turn). Everything else, and any
    later read, goes to the store.
    """

    def __init__(self, store: TodoStore, thread_id: str, newest: Page[ThreadItem]) -> None:
        self._store = store
        self._thread_id = thread_id
        self._newest: Page[ThreadItem] | None = newest

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: RequestContext
    ) -> Page[ThreadItem]:
        newest, self._newest = self._newest, None
        if (
            newest is not None
            and thread_id == self._thread_id
            and after is None
            and order == "desc"
            and (limit <= len(newest.data) or not newest.has_more)
        ):
            data = newest.data[:limit]
            has_more = len(newest.data) > limit or newest.has_more
            return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)
        return await self._store.load_thread_items(thread_id, after, limit, order, context)

    def __getattr__(self, name: str) -> Any:
        self._newest = None  # any other call may write: never serve the page after it
        return getattr(self._store, name)


class ToolCallCounter(RunHooks[AgentContext[RequestContext]]):
    """Counts the agent's tool calls on the current turn's metrics (by tool name only)."""

    async def on_tool_start(
        self,
        context: RunContextWrapper[AgentContext[RequestContext]],
        agent: Agent[AgentContext[RequestContext]],
        tool: Tool,
    ) -> None:
        turn = current_turn()
        if turn is not None:
            turn.tool_called(tool.name)


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: TodoStore,
        agent: Agent[AgentContext[RequestContext]],
        *,
        history_item_limit: int = 40,
        converter: ThreadItemConverter | None = None,
    ) -> None:
        super().__init__(store)
        self.chat_store = store
        self.agent = agent
        self.history_item_limit = history_item_limit
        self.converter = converter or ThreadItemConverter()
        self.tool_call_counter = ToolCallCounter()

    @property
    def tool_names(self) -> frozenset[str]:
        """The agent's own tools: the only values the `tool` metric dimension takes."""
        return frozenset(tool.name for tool in self.agent.tools)

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if thread.title is None and input_user_message is not None:
            # The SDK saves the thread and emits thread.updated when it sees the change.
            thread.title = title_from_message(input_user_message)

        recent = await self.store.load_thread_items(
            thread.id, None, self.history_item_limit, "desc", context
        )
        history = await self.converter.to_agent_input(list(reversed(recent.data)))
        agent_context = AgentContext[RequestContext](
            thread=thread,
            store=cast(Store[RequestContext], _TurnStartStore(self.chat_store, thread.id, recent)),
            request_context=context,
        )
        result = Runner.run_streamed(
            self.agent,
            history,
            context=agent_context,
            hooks=self.tool_call_counter,
            run_config=RunConfig(tracing_disabled=True, trace_include_sensitive_data=False),
        )
        events = stream_agent_response(agent_context, result)
        async for event in remap_assistant_ids(
            events, lambda: self.store.generate_item_id("message", thread, context)
        ):
            yield event

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.chat_store.save_feedback(thread_id, item_ids, feedback, context)
