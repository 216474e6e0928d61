"""Tool memory: what the agent's tools were asked and what they answered, kept in the thread.

The Agents SDK feeds a tool's output back to the model only within the run that called it,
and ChatKit does not store server-side tool calls as thread items, so on the next turn the
model would see only its own summary ("You have 3 tasks.") and could not answer "what was the
second task you listed?". Here every completed call is saved as one hidden context item
(`{"tool_call": {call_id, name, arguments, output}}`, never sent to the client) and given back
to the model on later turns as the SDK's own `function_call` + `function_call_output` pair,
the form every model path accepts (Responses, Chat Completions, LiteLLM).

One item holds both halves, so trimming the history can never split a call from its output.
A call without an output (the turn was stopped while the tool ran) is not kept: no model API
accepts a call without its output. A client tool call (`client_tools.py`) is not kept here
either: ChatKit saves it as a `client_tool_call` item, answered by the browser.

The items are captured from the run's `new_items` (where the SDK puts each step's calls and
outputs before it calls the model again) and emitted as `thread.item.done` events before the
event that follows them, so they are saved (staged, riding on the turn's next write: see
store/request_scope.py) and sort before the answer the model writes after the tools ran.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from agents import RunItem, TResponseInputItem
from agents.items import ToolCallItem, ToolCallOutputItem
from chatkit.types import HiddenContextItem, ThreadItem, ThreadItemDoneEvent, ThreadStreamEvent
from openai.types.responses import ResponseFunctionToolCallParam
from openai.types.responses.response_input_item_param import FunctionCallOutput
from pydantic import BaseModel, ValidationError

TOOL_CALL_KEY = "tool_call"


class ToolCallRecord(BaseModel):
    """One completed tool call, as the model made it and as the tool answered."""

    call_id: str
    name: str
    # The arguments as the model wrote them (JSON text).
    arguments: str
    # What the model was given back (the tool's string result).
    output: str

    def to_item(self, item_id: str, thread_id: str) -> HiddenContextItem:
        return HiddenContextItem(
            id=item_id,
            thread_id=thread_id,
            created_at=datetime.now(),
            content={TOOL_CALL_KEY: self.model_dump()},
        )

    def to_input(self) -> list[TResponseInputItem]:
        """The SDK's own pair for a call and its output (no item ids: nothing refers to them
        on the provider's side, and with `store` off none could be looked up)."""
        return [
            ResponseFunctionToolCallParam(
                type="function_call",
                call_id=self.call_id,
                name=self.name,
                arguments=self.arguments,
            ),
            FunctionCallOutput(
                type="function_call_output", call_id=self.call_id, output=self.output
            ),
        ]


def tool_call_record(item: ThreadItem) -> ToolCallRecord | None:
    """The tool call an item records, or None for any other item."""
    if not isinstance(item, HiddenContextItem) or not isinstance(item.content, dict):
        return None
    raw = item.content.get(TOOL_CALL_KEY)
    if raw is None:
        return None
    try:
        return ToolCallRecord.model_validate(raw)
    except ValidationError:
        return None


def _field(raw: object, name: str) -> Any:
    return raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)


def _function_call(item: ToolCallItem) -> tuple[str, str, str] | None:
    """(call_id, name, arguments) of a function call; None for any other kind of tool."""
    raw = item.raw_item
    if _field(raw, "type") != "function_call":
        return None
    call_id, name, arguments = (_field(raw, key) for key in ("call_id", "name", "arguments"))
    if not (isinstance(call_id, str) and isinstance(name, str)):
        return None
    return call_id, name, arguments if isinstance(arguments, str) else json.dumps(arguments)


def _output_text(item: ToolCallOutputItem) -> str:
    output = _field(item.raw_item, "output")
    if output is None:
        output = item.output
    return output if isinstance(output, str) else json.dumps(output, default=str)


class ToolCallRecorder:
    """Pairs a run's function calls with their outputs by `call_id`, each pair once."""

    def __init__(self, client_tool_asked: Callable[[], bool]) -> None:
        # True once a client tool asked the browser: the run ends on that call, which ChatKit
        # saves itself (as the run's last tool call, like `stream_agent_response` does).
        self._client_tool_asked = client_tool_asked
        self._recorded: set[str] = set()

    def completed(self, run_items: Sequence[RunItem]) -> list[ToolCallRecord]:
        """The calls in `run_items` that have an output and were not returned before."""
        calls: dict[str, tuple[str, str]] = {}
        last_call: str | None = None
        for item in run_items:
            if isinstance(item, ToolCallItem) and (call := _function_call(item)) is not None:
                calls[call[0]] = (call[1], call[2])
                last_call = call[0]
        if self._client_tool_asked() and last_call is not None:
            self._recorded.add(last_call)
        records: list[ToolCallRecord] = []
        for item in run_items:
            if not isinstance(item, ToolCallOutputItem):
                continue
            call_id = item.call_id
            if call_id is None or call_id in self._recorded or call_id not in calls:
                continue
            self._recorded.add(call_id)
            name, arguments = calls[call_id]
            records.append(
                ToolCallRecord(
                    call_id=call_id, name=name, arguments=arguments, output=_output_text(item)
                )
            )
        return records


async def remember_tool_calls(
    events: AsyncIterator[ThreadStreamEvent],
    run_items: Callable[[], Sequence[RunItem]],
    recorder: ToolCallRecorder,
    new_item: Callable[[ToolCallRecord], HiddenContextItem],
) -> AsyncIterator[ThreadStreamEvent]:
    """Pass a turn's events through, preceded by a `thread.item.done` for each tool call that
    completed since the last event (ChatKit saves it and never sends it to the client).

    When the run fails, the calls that completed are still recorded before the error goes on:
    what the tools did stays in the thread.
    """

    def done_events() -> list[ThreadItemDoneEvent]:
        return [ThreadItemDoneEvent(item=new_item(r)) for r in recorder.completed(run_items())]

    try:
        async for event in events:
            for done in done_events():
                yield done
            yield event
    except Exception:
        for done in done_events():
            yield done
        raise
    for done in done_events():
        yield done
