"""The ChatKit server: runs the Todo agent for each user message and persists the thread."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from agents import Agent, RunConfig, RunContextWrapper, RunHooks, Runner, Tool
from chatkit.actions import Action
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    AssistantMessageItem,
    ChatKitReq,
    FeedbackKind,
    ProgressUpdateEvent,
    StreamOptions,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    is_streaming_req,
)
from pydantic import BaseModel, TypeAdapter

from todo_assistant.actions import ActionOutcome, ActionRejected, TaskActions
from todo_assistant.agent.composer_input import ComposerInput, ComposerInputConverter
from todo_assistant.agent.effects import EffectsLedger, already_done_note
from todo_assistant.agent.history_budget import history_within_budget
from todo_assistant.agent.model_choice import ModelChoices
from todo_assistant.agent.model_errors import guard_model_failures
from todo_assistant.agent.progress import announce_tool
from todo_assistant.agent.request_settings import RequestSettings
from todo_assistant.agent.sources import TodoAgentContext, with_task_sources
from todo_assistant.agent.stop import stop_before_tool, stoppable
from todo_assistant.agent.tool_memory import ToolCallRecorder, remember_tool_calls
from todo_assistant.config import DEFAULT_HISTORY_ITEM_LIMIT, DEFAULT_HISTORY_TOKEN_BUDGET
from todo_assistant.context import RequestContext
from todo_assistant.limits import RateLimiter
from todo_assistant.metrics import current_turn
from todo_assistant.store.attachments import S3AttachmentStore
from todo_assistant.store.chatkit_store import TodoStore
from todo_assistant.tasks.service import TaskService

TITLE_MAX_CHARS = 60
# Model calls per turn: room for one tool call per line of an imported note (20) and a reply.


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
    """At every tool start: runs no tool once the user stopped the turn, counts the call on
    the turn's metrics (by tool name only) and shows a progress update ("Adding task…")."""

    async def on_tool_start(
        self,
        context: RunContextWrapper[AgentContext[RequestContext]],
        agent: Agent[AgentContext[RequestContext]],
        tool: Tool,
    ) -> None:
        await stop_before_tool()
        turn = current_turn()
        if turn is not None:
            turn.tool_called(tool.name)
        await announce_tool(context.context, tool.name)


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


# Turns that start by writing a new user message: the rate limit rides on that write.
OPENING_WRITE_REQUESTS = frozenset({"threads.create", "threads.add_user_message"})


def parse_request(body: str | bytes | bytearray) -> ChatKitReq:
    return _REQUEST_ADAPTER.validate_json(body)


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: TodoStore,
        agent: Agent[AgentContext[RequestContext]],
        *,
        tasks: TaskService,
        history_item_limit: int = DEFAULT_HISTORY_ITEM_LIMIT,
        history_token_budget: int = DEFAULT_HISTORY_TOKEN_BUDGET,
        converter: ThreadItemConverter | None = None,
        request_settings: RequestSettings | None = None,
        attachments: S3AttachmentStore | None = None,
        models: ModelChoices | None = None,
        max_tool_calls_per_turn: int = 8,
        turn_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(store, attachments)
        self.chat_store = store
        self.agent = agent
        self.task_actions = TaskActions(tasks)
        self.history_item_limit = history_item_limit
        self.history_token_budget = history_token_budget
        # History every model path accepts (Chat Completions and LiteLLM included), with the
        # caller's tags and attachments: built per turn (converter_for) unless one is given.
        self.converter_override = converter
        self.request_settings = request_settings
        # Tags and files are converted per turn, for the caller (composer_input.py).
        self.tasks = tasks
        self.attachments = attachments
        self.models = models
        # The agent loop calls the model once per round of tool calls, plus once to answer:
        # N + 1 model calls allow N rounds (see limits.py for why this is the cap's form).
        self.max_model_calls = max_tool_calls_per_turn + 1
        self.converter = converter or ThreadItemConverter()
        self.tool_call_counter = ToolCallCounter()
        self.turn_limiter = (
            turn_limiter if turn_limiter is not None and turn_limiter.enabled else None
        )

    async def process(
        self, request: str | bytes | bytearray | ChatKitReq, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """The SDK's `process`, taking an already parsed request (the endpoint parses it once
        to check it), with a fresh store scope per request that is flushed when it ends."""
        parsed = request if isinstance(request, BaseModel) else parse_request(request)
        turn = parsed.type in TURN_REQUESTS
        limiter = self.turn_limiter if turn else None
        if limiter is not None and parsed.type not in OPENING_WRITE_REQUESTS:
            # No user message is written first (a retry, a client tool's output): counted on
            # its own; `RateLimited` refuses the request before anything else happens.
            await limiter.check(context.user_id)
            limiter = None
        scoped = context.for_request(
            turn=turn,
            turn_limiter=limiter,
            # The SDK reads the thread, then writes the message: both go out at once.
            overlap_opening=parsed.type == "threads.add_user_message",
        )
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
                # The first event (the user's message, durable) leaves before the thread's
                # read has finished (see ChatKitStore.load_thread); the SDK snapshots the
                # thread as soon as it resumes, so the read must be settled by then.
                await self.chat_store.settle(context)
        finally:
            await self.chat_store.flush(context)

    def get_stream_options(self, thread: ThreadMetadata, context: RequestContext) -> StreamOptions:
        # Stop is offered only where the turn listens for it (agent/stop.py), which it now does.
        return StreamOptions(allow_cancel=stoppable(thread.id))

    @property
    def model_name(self) -> str:
        model = self.agent.model
        return str(getattr(model, "model", None) or type(model).__name__)

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

        # Answered from the thread read that started the turn (see store/request_scope.py),
        # then cut to the newest whole turns within the token budget (history_budget.py).
        recent = await self.store.load_thread_items(
            thread.id, None, self.history_item_limit, "desc", context
        )
        history = await history_within_budget(
            list(reversed(recent.data)),
            self.converter_for(context),
            self.history_token_budget,
            whole_thread=not recent.has_more,
        )
        effects = await self.effects_ledger(thread, input_user_message, recent.data, context)
        if input_user_message is not None and effects is not None and effects.changes():
            # A retry (agent/effects.py): the model hears what was already done.
            history.input.append(already_done_note(effects.changes()))
        agent_context = TodoAgentContext(
            thread=thread,
            store=self.store,
            request_context=context,
            user_message_id=effects.message_id if effects is not None else None,
            effects=effects,
        )
        result = Runner.run_streamed(
            self.agent,
            history.input,
            context=agent_context,
            hooks=self.tool_call_counter,
            max_turns=self.max_model_calls,
            run_config=RunConfig(
                tracing_disabled=True,
                trace_include_sensitive_data=False,
                **self.run_overrides(input_user_message, context),
            ),
        )
        events = with_task_sources(stream_agent_response(agent_context, result), agent_context)
        # Every completed tool call is saved as a hidden item, for the model's later turns.
        events = remember_tool_calls(
            events,
            lambda: result.new_items,
            ToolCallRecorder(lambda: agent_context.client_tool_call is not None),
            lambda record: record.to_item(
                self.store.generate_item_id("tool_call", thread, context), thread.id
            ),
        )

        def new_id() -> str:
            return self.store.generate_item_id("message", thread, context)

        try:
            async for event in guard_model_failures(
                remap_assistant_ids(events, new_id),
                thread_id=thread.id,
                new_item_id=new_id,
                model=self.model_name,
                wake_event_reader=lambda: agent_context.stream(ProgressUpdateEvent(text="")),
                changes_made=effects.changes if effects is not None else None,
            ):
                yield event
        finally:
            # A turn stopped early (deadline, cancel) must not run on: no model call or tool
            # call may happen after its stream ended.
            result.cancel()

    async def effects_ledger(
        self,
        thread: ThreadMetadata,
        message: UserMessageItem | None,
        newest_first: list[ThreadItem],
        context: RequestContext,
    ) -> EffectsLedger | None:
        """What the tools already changed for the user message this run answers: the new or
        retried `message`, or for a resumed turn (client tool output) the newest one."""
        if message is None:
            message = next((i for i in newest_first if isinstance(i, UserMessageItem)), None)
        if message is None:
            return None
        return await EffectsLedger.open(self.chat_store, thread.id, message.id, context)

    def converter_for(self, context: RequestContext) -> ThreadItemConverter:
        if self.converter_override is not None:
            return self.converter_override
        return ComposerInputConverter(ComposerInput(self.tasks, self.attachments, context))

    def run_overrides(
        self, message: UserMessageItem | None, context: RequestContext
    ) -> dict[str, Any]:
        """The run's model and settings: the request settings for this user, with the model and
        tool the user picked in the composer for this message, if any."""
        options = message.inference_options if message is not None else None
        overrides: dict[str, Any] = {}
        if self.models is not None and (model := self.models.model_for(options)) is not None:
            overrides["model"] = model
        base = self.request_settings.for_user(context.user_id) if self.request_settings else None
        chosen = ModelChoices.model_settings_for(options)
        settings = (
            base.resolve(chosen) if base is not None and chosen is not None else base or chosen
        )
        if settings is not None:
            overrides["model_settings"] = settings
        return overrides

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.chat_store.save_feedback(thread_id, item_ids, feedback, context)

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """A widget button, streamed: the widget is replaced in place, the effect follows."""
        try:
            outcome = await self._act(thread, action, sender, context)
        except ActionRejected as error:
            raise CustomStreamError(error.message, allow_retry=False) from None
        yield ThreadItemReplacedEvent(item=outcome.item)
        if outcome.record is not None:
            yield ThreadItemDoneEvent(item=outcome.record)  # saved; never sent to the client
        if outcome.effect is not None:
            yield outcome.effect

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        """A widget button sent with `streaming: false`: answered at once, even while a reply
        streams. There is no event stream for the effect: the front end refreshes its tasks
        after the response. A refusal raises `ActionRejected` (a 4xx JSON answer)."""
        outcome = await self._act(thread, action, sender, context)
        await self.store.save_item(thread.id, outcome.item, context=context)
        if outcome.record is not None:
            await self.store.add_thread_item(thread.id, outcome.record, context=context)
        return SyncCustomActionResponse(updated_item=outcome.item)

    async def _act(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> ActionOutcome:
        record_id = self.store.generate_item_id("message", thread, context)
        return await self.task_actions.handle(thread, action, sender, context, record_id)
