"""A deterministic, offline model behind the Agents SDK `Model` interface.

It reads the latest user message, turns it into one of the Todo tool calls (see `intents`),
and after the tool ran, writes the reply from the tool's output. "What was the second task
you listed?" it answers from the tool outputs in its history (tool memory), as a hosted model
would. Replies stream in several text deltas (optionally paced) exactly like a hosted model's
Responses stream, so the whole agent -> ChatKit -> SSE path is exercised without a network.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Iterable

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from todo_assistant.ids import new_id
from todo_assistant.llm.local import composer as local_composer
from todo_assistant.llm.local.conversation import (
    LISTED_TASK,
    WHAT_DID_I_CLICK,
    input_texts,
    is_context_text,
    latest_user_text,
    pending_tool_result,
    quoted,
    recall_listed_task,
    reply_after_tool,
)
from todo_assistant.llm.local.intents import (
    HELP_TEXT,
    MAX_REQUEST_CHARS,
    ToolCall,
    parse_request,
    small_talk,
)
from todo_assistant.llm.local.phrases import parse_client_tool_request
from todo_assistant.widgets.events import recall_last_action


def split_deltas(text: str, words_per_delta: int = 3) -> list[str]:
    """Break a reply into word groups, keeping every space and newline."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    return [
        "".join(tokens[i : i + words_per_delta]) for i in range(0, len(tokens), words_per_delta)
    ] or [""]


class LocalTodoModel(Model):
    def __init__(
        self, *, delay_seconds: float = 0.0, words_per_delta: int = 3, name: str = "local-todo"
    ) -> None:
        self.delay_seconds = delay_seconds
        self.words_per_delta = words_per_delta
        # The model id it answers as (the composer's model picker selects among names).
        self.name = name

    def named(self, name: str) -> LocalTodoModel:
        """The same model answering as another model id."""
        clone = copy.copy(self)
        clone.name = name
        return clone

    # -- decision ---------------------------------------------------------------------------
    def decide(
        self,
        input: str | list[TResponseInputItem],
        tools: list[Tool],
        model_settings: ModelSettings | None = None,
        instructions: str | None = None,
    ) -> TResponseOutputItem:
        items: list[TResponseInputItem] = (
            [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        )
        tool_names = {tool.name for tool in tools}
        # Checked before any parsing: a crafted message must not reach the patterns at all.
        if pending_tool_result(items) is None and len(latest_user_text(items)) > MAX_REQUEST_CHARS:
            return self._message(
                f"That message is too long for me to read as a task request. {HELP_TEXT}"
            )
        turn = local_composer.read_turn(items, is_context_text)
        if local_composer.is_note_request(turn.text) and "add_task" in tool_names:
            return self._from_note(turn, items)
        finished = pending_tool_result(items)
        if finished is not None:
            return self._message(reply_after_tool(items, *finished))
        if turn.missing_mentions:
            mentioned = ", ".join(f"@{tag}" for tag in turn.missing_mentions)
            return self._message(f"I couldn't find the task you mentioned ({mentioned}).")
        text = local_composer.with_references(turn, instructions) or latest_user_text(items)
        if WHAT_DID_I_CLICK.search(text):
            recalled = recall_last_action(input_texts(items))
            return self._message(recalled or "You haven't pressed any task buttons yet.")
        if listed := LISTED_TASK.search(text):
            return self._message(recall_listed_task(items, listed["which"]))
        if local_composer.model_question(text):
            return self._message(f"You're talking to {self.name} (the offline local model).")
        forced = model_settings.tool_choice if model_settings else None
        if isinstance(forced, str) and forced in tool_names:
            call = local_composer.forced_call(forced, text)
        else:
            call = parse_client_tool_request(text) or parse_request(text)
        if call is not None and call.name in tool_names:
            return self._call(call)
        if len(text) > MAX_REQUEST_CHARS:
            return self._message(
                f"That message is too long for me to read as a task request. {HELP_TEXT}"
            )
        reply = small_talk(text) or (
            f"Sorry, I didn't catch a task request in {quoted(text)}. {HELP_TEXT}"
            if text
            else HELP_TEXT
        )
        return self._message(reply)

    def _from_note(
        self, turn: local_composer.ComposerTurn, items: list[TResponseInputItem]
    ) -> TResponseOutputItem:
        """One add_task per line of the attached note, one per step, then a summary."""
        if not turn.notes:
            return self._message("Attach a text note (.txt or .md) and ask again.")
        name, note = turn.notes[0]
        titles = local_composer.note_titles(note)
        done = local_composer.tool_outputs_since(items, turn.index)
        if len(done) < len(titles):
            return self._call(ToolCall("add_task", {"title": titles[len(done)]}))
        if not titles:
            return self._message(f"{name} has no lines to add as tasks.")
        return self._message(local_composer.describe_note_result(name, done))

    @staticmethod
    def _call(call: ToolCall) -> ResponseFunctionToolCall:
        return ResponseFunctionToolCall(
            id=new_id("fc"),
            call_id=new_id("call"),
            name=call.name,
            arguments=json.dumps(call.arguments),
            type="function_call",
            status="completed",
        )

    @staticmethod
    def _message(text: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id=new_id("msg"),
            type="message",
            role="assistant",
            status="completed",
            content=[
                ResponseOutputText(type="output_text", text=text, annotations=[], logprobs=[])
            ],
        )

    # -- Model interface --------------------------------------------------------------------
    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        # Parsing is CPU work: in a worker thread it never holds up other requests' I/O.
        output = await asyncio.to_thread(
            self.decide, input, tools, model_settings, system_instructions
        )
        return ModelResponse(output=[output], usage=Usage(), response_id=new_id("resp"))

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        # Parsing is CPU work: in a worker thread it never holds up other requests' I/O.
        output = await asyncio.to_thread(
            self.decide, input, tools, model_settings, system_instructions
        )
        response = _response([], self.name)
        sequence = _Sequence()
        yield ResponseCreatedEvent(
            type="response.created", response=response, sequence_number=sequence.next()
        )
        if isinstance(output, ResponseFunctionToolCall):
            for event in _function_call_events(output, sequence):
                yield event
        elif isinstance(output, ResponseOutputMessage):
            async for event in self._message_events(output, sequence):
                yield event
        yield ResponseCompletedEvent(
            type="response.completed",
            response=_response([output], self.name),
            sequence_number=sequence.next(),
        )

    async def _message_events(
        self, message: ResponseOutputMessage, sequence: _Sequence
    ) -> AsyncIterator[TResponseStreamEvent]:
        part = message.content[0]
        assert isinstance(part, ResponseOutputText)
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=message.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=sequence.next(),
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=message.id,
            output_index=0,
            content_index=0,
            part=part.model_copy(update={"text": ""}),
            sequence_number=sequence.next(),
        )
        for index, delta in enumerate(split_deltas(part.text, self.words_per_delta)):
            if index and self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=message.id,
                output_index=0,
                content_index=0,
                delta=delta,
                logprobs=[],
                sequence_number=sequence.next(),
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=message.id,
            output_index=0,
            content_index=0,
            text=part.text,
            logprobs=[],
            sequence_number=sequence.next(),
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=message.id,
            output_index=0,
            content_index=0,
            part=part,
            sequence_number=sequence.next(),
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=message,
            output_index=0,
            sequence_number=sequence.next(),
        )


class _Sequence:
    def __init__(self) -> None:
        self._value = -1

    def next(self) -> int:
        self._value += 1
        return self._value


def _function_call_events(
    call: ResponseFunctionToolCall, sequence: _Sequence
) -> Iterable[TResponseStreamEvent]:
    item_id = call.id or call.call_id
    yield ResponseOutputItemAddedEvent(
        type="response.output_item.added",
        item=call.model_copy(update={"arguments": "", "status": "in_progress"}),
        output_index=0,
        sequence_number=sequence.next(),
    )
    yield ResponseFunctionCallArgumentsDeltaEvent(
        type="response.function_call_arguments.delta",
        item_id=item_id,
        output_index=0,
        delta=call.arguments,
        sequence_number=sequence.next(),
    )
    yield ResponseFunctionCallArgumentsDoneEvent.model_validate(
        {
            "type": "response.function_call_arguments.done",
            "item_id": item_id,
            "output_index": 0,
            "arguments": call.arguments,
            "name": call.name,
            "sequence_number": sequence.next(),
        }
    )
    yield ResponseOutputItemDoneEvent(
        type="response.output_item.done", item=call, output_index=0, sequence_number=sequence.next()
    )


def _response(output: list[TResponseOutputItem], model: str = "local-todo") -> Response:
    return Response(
        id=new_id("resp"),
        created_at=0,
        model=model,
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed" if output else "in_progress",
    )
