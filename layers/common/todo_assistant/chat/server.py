"""The ChatKit server: admits each request, runs the Todo agent for each user message and
persists the thread (through a fresh store scope per request)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from agents import Agent, RunConfig, Runner
from chatkit.actions import Action
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    ChatKitReq,
    FeedbackKind,
    ProgressUpdateEvent,
    StreamOptions,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadsDeleteReq,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
    is_streaming_req,
)
from pydantic import BaseModel

from todo_assistant.agent.composer_input import ComposerInput, ComposerInputConverter
from todo_assistant.agent.effects import EffectsLedger, already_done_note
from todo_assistant.agent.history_budget import history_within_budget
from todo_assistant.agent.sources import TodoAgentContext, with_task_sources
from todo_assistant.agent.tool_memory import ToolCallRecorder, remember_tool_calls
from todo_assistant.chat.actions import ActionOutcome, ActionRejected, TaskActions
from todo_assistant.chat.admission import Admission, parse_request
from todo_assistant.chat.model_errors import guard_model_failures
from todo_assistant.chat.turn_events import ToolStartHooks, remap_assistant_ids, title_from_message
from todo_assistant.config import (
    DEFAULT_HISTORY_ITEM_LIMIT,
    DEFAULT_HISTORY_TOKEN_BUDGET,
    DEFAULT_MAX_MESSAGE_CHARS,
)
from todo_assistant.context import RequestContext, TurnStop
from todo_assistant.limits import RateLimiter
from todo_assistant.llm.model_choice import ModelChoices
from todo_assistant.llm.request_settings import RequestSettings
from todo_assistant.store.attachments import S3AttachmentStore
from todo_assistant.store.base import TodoStore
from todo_assistant.store.request_scope import scoped
from todo_assistant.tasks.service import TaskService

__all__ = ["TURN_REQUESTS", "TodoChatKitServer", "TurnLimits", "parse_request"]

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


@dataclass(frozen=True)
class TurnLimits:
    """How much one turn may read, send and do."""

    # Items read with the thread, and the model's share of them in tokens (history_budget.py).
    history_item_limit: int = DEFAULT_HISTORY_ITEM_LIMIT
    history_token_budget: int = DEFAULT_HISTORY_TOKEN_BUDGET
    max_tool_calls_per_turn: int = 8
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS


class TodoChatKitServer(ChatKitServer[RequestContext]):
    def __init__(
        self,
        store: TodoStore,
        agent: Agent[AgentContext[RequestContext]],
        *,
        tasks: TaskService,
        limits: TurnLimits = TurnLimits(),
        attachments: S3AttachmentStore | None = None,
        models: ModelChoices | None = None,
        request_settings: RequestSettings | None = None,
        turn_limiter: RateLimiter | None = None,
        converter: ThreadItemConverter | None = None,
    ) -> None:
        super().__init__(store, attachments)
        self.store: TodoStore = store
        self.agent = agent
        self.tasks = tasks
        self.limits = limits
        self.attachments = attachments
        self.models = models
        self.request_settings = request_settings
        # History every model path accepts (Chat Completions and LiteLLM included), with the
        # caller's tags and attachments: built per turn (converter_for) unless one is given.
        self.converter_override = converter
        self.task_actions = TaskActions(tasks)
        self.tool_start_hooks = ToolStartHooks()
        # Counted only when it counts anything (a limiter with no windows is off).
        self.turn_limiter = (
            turn_limiter if turn_limiter is not None and turn_limiter.enabled else None
        )
        self.admission = Admission(
            store,
            attachments=attachments,
            models=models,
            tool_names=self.tool_names,
            max_message_chars=limits.max_message_chars,
        )

    @property
    def max_model_calls(self) -> int:
        # The agent loop calls the model once per round of tool calls, plus once to answer:
        # N + 1 model calls allow N rounds (see limits.py for why this is the cap's form).
        return self.limits.max_tool_calls_per_turn + 1

    async def process(
        self,
        request: str | bytes | bytearray | ChatKitReq,
        context: RequestContext,
        *,
        stop: TurnStop | None = None,
    ) -> StreamingResult | NonStreamingResult:
        """The SDK's `process`, taking an already parsed request, with a fresh store scope per
        request that is flushed when it ends. The request is admitted first (admission.py):
        a refusal is raised before anything is written. `stop`: the turn's Stop, where its
        stream offers one."""
        parsed = request if isinstance(request, BaseModel) else parse_request(request)
        turn = parsed.type in TURN_REQUESTS
        limiter = self.turn_limiter if turn else None
        scoped_context = scoped(
            replace(context, stop=stop),
            turn=turn,
            turn_limiter=limiter if parsed.type in OPENING_WRITE_REQUESTS else None,
            # The SDK reads the thread, then writes the message: both go out at once.
            overlap_opening=parsed.type == "threads.add_user_message",
        )
        try:
            await self.admission.admit(parsed, scoped_context)
            if limiter is not None and parsed.type not in OPENING_WRITE_REQUESTS:
                # No user message is written first (a retry, a client tool's output): counted
                # on its own; `RateLimited` refuses the request before anything else happens.
                await limiter.check(context.user_id)
            if isinstance(parsed, ThreadsDeleteReq) and self.attachments is not None:
                # The thread's rows go next; its files (found through its messages) go first.
                await self.attachments.delete_thread_attachments(
                    parsed.params.thread_id, scoped_context
                )
        except BaseException:
            await self.store.flush(scoped_context)
            raise
        if is_streaming_req(parsed):
            return StreamingResult(
                self._flushed(self._process_streaming(parsed, scoped_context), scoped_context)
            )
        result = NonStreamingResult(await self._process_non_streaming(parsed, scoped_context))
        await self.store.flush(scoped_context)
        return result

    async def _flushed(
        self, stream: AsyncGenerator[bytes, None], context: RequestContext
    ) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in stream:
                yield chunk
                # The first event (the user's message, durable) leaves before the thread's
                # read has finished (see DynamoChatKitStore.load_thread); the SDK snapshots the
                # thread as soon as it resumes, so the read must be settled by then.
                await self.store.settle(context)
        finally:
            await self.store.flush(context)

    def get_stream_options(self, thread: ThreadMetadata, context: RequestContext) -> StreamOptions:
        # Stop is offered only where the turn listens for it (chat/stop.py).
        return StreamOptions(allow_cancel=context.stop is not None)

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
        if context.stop is not None:
            context.stop.listen_to(thread.id)
        if thread.title is None and input_user_message is not None:
            # The SDK saves the thread and emits thread.updated when it sees the change.
            thread.title = title_from_message(input_user_message)

        # Answered from the thread read that started the turn (see store/request_scope.py),
        # then cut to the newest whole turns within the token budget (history_budget.py).
        recent = await self.store.load_thread_items(
            thread.id, None, self.limits.history_item_limit, "desc", context
        )
        history = await history_within_budget(
            list(reversed(recent.data)),
            self.converter_for(context),
            self.limits.history_token_budget,
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
            hooks=self.tool_start_hooks,
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
        return await EffectsLedger.open(self.store, thread.id, message.id, context)

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
        await self.store.save_feedback(thread_id, item_ids, feedback, context)

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action[str, Any],
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """A widget button, streamed: the widget is replaced in place, the effect follows."""
        if context.stop is not None:
            context.stop.listen_to(thread.id)
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
