"""A deterministic, offline model behind the Agents SDK `Model` interface.

It reads the latest user message, turns it into one of the Todo tool calls (see `intents`),
and after the tool ran, writes the reply from the tool's output. Replies stream in several
text deltas (optionally paced) exactly like a hosted model's Responses stream, so the whole
agent -> ChatKit -> SSE path is exercised without a network.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

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

from todo_assistant.actions import recall_last_action
from todo_assistant.agent.client_tools import (
    CLIENT_TOOL_NAMES,
    client_tool_reply,
    parse_client_tool_request,
)
from todo_assistant.agent.intents import (
    HELP_TEXT,
    MAX_REQUEST_CHARS,
    describe_tool_result,
    parse_request,
    small_talk,
)
from todo_assistant.ids import new_id

# Items the ChatKit converter adds after the user's own text; they are context, not requests.
_CONTEXT_PREFIXES = ("The user is referring to this in particular", "# User-provided context")
# How much of a message the "didn't catch that" reply quotes back.
_QUOTED_CHARS = 80
_HIDDEN_MARKERS = ("<SDK_HIDDEN_CONTEXT", "<HiddenContext>")
_WHAT_DID_I_CLICK = re.compile(r"\bwhat did i (?:just )?(?:click|press|do)\b", re.IGNORECASE)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def latest_user_text(items: list[TResponseInputItem]) -> str:
    for item in reversed(items):
        if _field(item, "role") != "user":
            continue
        content = _field(item, "content")
        if isinstance(content, str):
            text = content
        else:
            text = "".join(
                str(_field(part, "text") or "")
                for part in content or []
                if _field(part, "type") == "input_text"
            )
        if (
            text
            and not text.startswith(_CONTEXT_PREFIXES)
            and not any(marker in text for marker in _HIDDEN_MARKERS)
        ):
            return text
    return ""


def pending_tool_result(items: list[TResponseInputItem]) -> tuple[str, str] | None:
    """(tool name, output) when the model is being called back after a tool ran this turn."""
    if not items or _field(items[-1], "type") != "function_call_output":
        return None
    call_id = _field(items[-1], "call_id")
    output = _field(items[-1], "output")
    name = next(
        (
            str(_field(item, "name"))
            for item in reversed(items)
            if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id
        ),
        "",
    )
    return name, output if isinstance(output, str) else json.dumps(output)


def _quoted(text: str) -> str:
    short = " ".join(text.split())
    return repr(short if len(short) <= _QUOTED_CHARS else short[:_QUOTED_CHARS] + "…")


def _input_texts(items: list[TResponseInputItem]) -> list[str]:
    texts: list[str] = []
    for item in items:
        content = _field(item, "content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(str(_field(part, "text") or "") for part in content)
    return texts


def _call_arguments(items: list[TResponseInputItem], call_id: object) -> dict[str, Any]:
    for item in reversed(items):
        if _field(item, "type") == "function_call" and _field(item, "call_id") == call_id:
            try:
                arguments = json.loads(str(_field(item, "arguments") or "{}"))
            except ValueError:
                return {}
            return arguments if isinstance(arguments, dict) else {}
    return {}


def reply_after_tool(items: list[TResponseInputItem], name: str, output: str) -> str:
    """The answer once a tool ran: short when a widget already shows the details."""
    if name in CLIENT_TOOL_NAMES:
        arguments = _call_arguments(items, _field(items[-1], "call_id"))
        return client_tool_reply(name, arguments, output)
    try:
        result = json.loads(output)
    except ValueError:
        result = None
    if (
        name == "list_tasks"
        and isinstance(result, dict)
        and result.get("ok")
        and result.get("widget")
        and result.get("tasks")
    ):
        return f"You have {result.get('message')}."
    return describe_tool_result(name, output)


def split_deltas(text: str, words_per_delta: int = 3) -> list[str]:
    """Break a reply into word groups, keeping every space and newline."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    return [
        "".join(tokens[i : i + words_per_delta]) for i in range(0, len(tokens), words_per_delta)
    ] or [""]


class LocalTodoModel(Model):
    def __init__(self, *, delay_seconds: float = 0.0, words_per_delta: int = 3) -> None:
        self.delay_seconds = delay_seconds
        self.words_per_delta = words_per_delta

    # -- decision ---------------------------------------------------------------------------
    def decide(
        self, input: str | list[TResponseInputItem], tools: list[Tool]
    ) -> TResponseOutputItem:
        items: list[TResponseInputItem] = (
            [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        )
        tool_names = {tool.name for tool in tools}
        finished = pending_tool_result(items)
        if finished is not None:
            return self._message(reply_after_tool(items, *finished))
        text = latest_user_text(items)
        if _WHAT_DID_I_CLICK.search(text):
            recalled = recall_last_action(_input_texts(items))
            return self._message(recalled or "You haven't pressed any task buttons yet.")
        call = parse_client_tool_request(text) or parse_request(text)
        if call is not None and call.name in tool_names:
            call_id = new_id("call")
            return ResponseFunctionToolCall(
                id=new_id("fc"),
                call_id=call_id,
                name=call.name,
                arguments=json.dumps(call.arguments),
                type="function_call",
                status="completed",
            )
        if len(text) > MAX_REQUEST_CHARS:
            return self._message(
                f"That message is too long for me to read as a task request. {HELP_TEXT}"
            )
        reply = small_talk(text) or (
            f"Sorry, I didn't catch a task request in {_quoted(text)}. {HELP_TEXT}"
            if text
            else HELP_TEXT
        )
        return self._message(reply)

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
        output = await asyncio.to_thread(self.decide, input, tools)
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
        output = await asyncio.to_thread(self.decide, input, tools)
        response = _response([])
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
            type="response.completed", response=_response([output]), sequence_number=sequence.next()
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


def _response(output: list[TResponseOutputItem]) -> Response:
    return Response(
        id=new_id("resp"),
        created_at=0,
        model="local-todo",
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed" if output else "in_progress",
    )
