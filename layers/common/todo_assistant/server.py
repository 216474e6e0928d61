"""The ChatKit server: runs the Todo agent for each user message and persists the thread."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from agents import Agent, RunConfig, RunContextWrapper, RunHooks, Runner, Tool
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    AssistantMessageItem,
    ChatKitReq,
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
    is_streaming_req,
)
from pydantic import BaseModel, TypeAdapter

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


_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)

# Requests that run the model: reading their thread also reads its recent history.
TURN_REQUESTS = frozenset(
    {
        "threads.create",
        "threads.add_user_message",
        "threads.retry_after_item",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
    }
)


def parse_request(body: str | bytes | bytearray) -> ChatKitReq:
    return _REQUEST_ADAPTER.validate_json(body)


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: TodoStore,
        agent: Agent[AgentContext[RequestContext]],
        *,
        history_item_limit: int = 40,
        converter: ThreadItemConverter | None = None,
        max_tool_calls_per_turn: int = 8,
    ) -> None:
        super().__init__(store)
        self.chat_store = store
        self.agent = agent
        self.history_item_limit = history_item_limit
        # The agent loop calls the model once per round of tool calls, plus once to answer:
        # N + 1 model calls allow N rounds (see limits.py for why this is the cap's form).
        self.max_model_calls = max_tool_calls_per_turn + 1
        self.converter = converter or ThreadItemConverter()
        self.tool_call_counter = ToolCallCounter()

    async def process(
        self, request: str | bytes | bytearray | ChatKitReq, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """The SDK's `process`, taking an already parsed request (the endpoint parses it once
        to check it), with a fresh store scope per request that is flushed when it ends."""
        parsed = request if isinstance(request, BaseModel) else parse_request(request)
        scoped = context.for_request(turn=parsed.type in TURN_REQUESTS)
        if is_streaming_req(parsed):
            return StreamingResult(self._flushed(self._process_streaming(parsed, scoped), scoped))
        result = NonStreamingResult(await self._process_non_streaming(parsed, scoped))
        await self.chat_store.flush(scoped)
        return result

    async def _flushed(
        self, stream: AsyncGenerator[bytes, None], context: RequestContext
    ) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            await self.chat_store.flush(context)

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

        # Answered from the thread read that started the turn (see store/request_scope.py).
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
            hooks=self.tool_call_counter,
            run_config=RunConfig(tracing_disabled=True, trace_include_sensitive_data=False),
            max_turns=self.max_model_calls,
        )
        events = stream_agent_response(agent_context, result)
        try:
            async for event in remap_assistant_ids(
                events, lambda: self.store.generate_item_id("message", thread, context)
            ):
                yield event
        finally:
            # A turn stopped early (deadline, cancel) must not run on: no model call or tool
            # call may happen after its stream ended.
            result.cancel()

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.chat_store.save_feedback(thread_id, item_ids, feedback, context)
