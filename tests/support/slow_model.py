"""A scripted slow model for Stop: it talks at length, then calls a tool.

To a message that asks it to take its time ("... slowly"), it writes `ANSWER` one word per
text delta, `delay_seconds` apart, and then, in the same response, calls `add_task` for
`TASK_TITLE`: a turn stopped while it talks must leave no task behind. With `hold_tool_call`
it waits between the text and the call until `tool_gate` opens (`holding` says it waits).
Every other message gets the local model's usual answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

from agents.items import TResponseStreamEvent
from openai.types.responses import ResponseCompletedEvent, ResponseCreatedEvent

from todo_assistant.llm.local.conversation import latest_user_text, pending_tool_result
from todo_assistant.llm.local.intents import ToolCall
from todo_assistant.llm.local.model import (
    LocalTodoModel,
    _function_call_events,
    _response,
    _Sequence,
)

SLOW_MARK = "slowly"
TASK_TITLE = "Water the plants"
ANSWER = " ".join(f"word{n}" for n in range(1, 61)) + "."
ANSWER_DELTAS = 60


def slow_request(text: str = "Add a task to water the plants") -> str:
    return f"{text}, slowly"


class SlowTalker(LocalTodoModel):
    def __init__(self, delay_seconds: float = 0.04, *, hold_tool_call: bool = False) -> None:
        super().__init__(delay_seconds=delay_seconds, words_per_delta=1)
        self.hold_tool_call = hold_tool_call
        self.tool_gate = threading.Event()
        self.holding = threading.Event()
        # Model calls made, and how many of them were long answers (each ends in a tool call).
        self.calls = 0
        self.slow_calls = 0

    async def stream_response(
        self,
        system_instructions: str | None,
        input: Any,
        *args: Any,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        self.calls += 1
        items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        if pending_tool_result(items) is not None or SLOW_MARK not in latest_user_text(items):
            async for event in super().stream_response(system_instructions, input, *args, **kwargs):
                yield event
            return
        self.slow_calls += 1
        message = self._message(ANSWER)
        call = self._call(ToolCall("add_task", {"title": TASK_TITLE}))
        sequence = _Sequence()
        yield ResponseCreatedEvent(
            type="response.created", response=_response([], self.name), sequence_number=0
        )
        sequence.next()
        async for event in self._message_events(message, sequence):
            yield event
        if self.hold_tool_call:
            self.holding.set()
            await asyncio.to_thread(self.tool_gate.wait, 20)
        for event in _function_call_events(call, sequence):
            yield event
        yield ResponseCompletedEvent(
            type="response.completed",
            response=_response([message, call], self.name),
            sequence_number=sequence.next(),
        )
