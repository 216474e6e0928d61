"""The ChatKit server: runs the Todo agent for each user message and persists the thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from agents import Agent, RunConfig, Runner
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer
from chatkit.types import (
    AssistantMessageItem,
    FeedbackKind,
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
from todo_assistant.store.chatkit_store import DynamoChatKitStore

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


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: DynamoChatKitStore,
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
            thread=thread, store=self.store, request_context=context
        )
        result = Runner.run_streamed(
            self.agent,
            history,
            context=agent_context,
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
