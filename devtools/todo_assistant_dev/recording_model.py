"""The offline model, keeping a copy of the input of every call made to it: for tests and
benchmarks that check what the model was sent (history, tool memory, the token budget)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from todo_assistant.llm.local.model import LocalTodoModel


class RecordingModel(LocalTodoModel):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[list[Any]] = []

    async def stream_response(
        self, system_instructions: str | None, input: Any, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        self.inputs.append(copy.deepcopy(list(input)))
        async for event in super().stream_response(system_instructions, input, *args, **kwargs):
            yield event
