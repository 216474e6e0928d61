"""What the tools changed for one user message, so that answering it again changes nothing twice.

`threads.retry_after_item` answers a user message again: ChatKit deletes the old answer and runs
the agent once more, and the model makes its tool calls again. Without a memory of them, "Add a
task to water the plants" followed by Retry leaves two tasks. The effects ledger is that memory:
one record per user message (row `THREAD#<thread>#EFFECTS#<message>`, `db/keys.py`) mapping
each call of a task-changing tool to the result it returned.

- A call is its tool's name, its arguments as canonical JSON (defaults filled in, text with case
  and spacing folded: "Water the plants" and "water the  plants" are one task) and its
  occurrence: the n-th identical call of a model run is another call than the first ("add milk"
  twice in one request adds two tasks, and a retry of it replays both).
- A call found in the ledger is not carried out again: the tool returns the recorded result and
  shows the recorded task card (nothing changed this time, so no `tasks_changed` effect).
- Only calls that changed a task are recorded. A call that changed nothing (an unknown task, a
  task already completed) runs again and changes nothing again.
- A resumed turn (a client tool's output) belongs to the same user message, so it consults the
  same record: an identical call there replays too.
- The record rides along with the turn's next write (the task card right after the tool, at the
  latest the request's final flush, which also runs when the turn fails): it costs no call of
  its own. A new message has no record (the store knows without reading); a retry or a resumed
  turn reads it with one GetItem.
- The record also keeps the thread truthful: a turn that fails after a tool ran says what
  changed (model_errors.py, history.py), and a retry tells the model what was already done.

Not covered: the process dying between a tool's write and the write that carries the record (a
hard Lambda timeout; the turn deadline in web/chatkit_app.py ends a turn well before that). A
retry after such a death can repeat the change (docs/turns.md).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import NamedTuple

from agents import TResponseInputItem
from openai.types.responses import EasyInputMessageParam, ResponseInputTextParam
from pydantic import BaseModel, Field

from todo_assistant.context import RequestContext
from todo_assistant.store.base import TodoStore
from todo_assistant.tasks.models import Task
from todo_assistant.widgets.tasks import RowState


class CallKey(NamedTuple):
    tool: str
    arguments: str
    occurrence: int


class ShownCard(BaseModel):
    """The task card a call showed, to show it again when the call is replayed."""

    task: Task
    heading: str
    state: RowState = "normal"


class RecordedCall(BaseModel):
    tool: str
    arguments: str
    occurrence: int
    result: str  # what the tool returned to the model
    change: str  # the change in words: 'added task #3 “Water the plants”'
    card: ShownCard | None = None


class EffectsRecord(BaseModel):
    """The stored JSON of one user message's record."""

    calls: list[RecordedCall] = Field(default_factory=list)


def canonical_arguments(arguments: Mapping[str, object]) -> str:
    folded = {
        name: " ".join(value.split()).casefold() if isinstance(value, str) else value
        for name, value in arguments.items()
    }
    return json.dumps(
        folded, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def change_of(verb: str, task: Task) -> str:
    """One change in words, as the thread and the model are told it."""
    return f"{verb} task #{task.number} “{task.title}”"


def in_words(changes: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(changes) < 2:
        return "".join(changes)
    return f"{', '.join(changes[:-1])} and {changes[-1]}"


class EffectsLedger:
    """One model run's view of a user message's record; `open` it once per run."""

    def __init__(
        self,
        store: TodoStore,
        thread_id: str,
        message_id: str,
        context: RequestContext,
        record: EffectsRecord,
    ) -> None:
        self.thread_id = thread_id
        self.message_id = message_id
        self._store = store
        self._context = context
        self._record = record
        self._by_key = {CallKey(c.tool, c.arguments, c.occurrence): c for c in record.calls}
        self._seen: Counter[tuple[str, str]] = Counter()

    @classmethod
    async def open(
        cls, store: TodoStore, thread_id: str, message_id: str, context: RequestContext
    ) -> EffectsLedger:
        stored = await store.load_effects(thread_id, message_id, context)
        record = EffectsRecord.model_validate_json(stored) if stored else EffectsRecord()
        return cls(store, thread_id, message_id, context, record)

    def claim(self, tool: str, arguments: Mapping[str, object]) -> CallKey:
        """The identity of a call. Claimed before the tool awaits anything, so the parallel
        calls of one model response are numbered in the order the model made them."""
        canonical = canonical_arguments(arguments)
        occurrence = self._seen[(tool, canonical)]
        self._seen[(tool, canonical)] += 1
        return CallKey(tool, canonical, occurrence)

    def recorded(self, key: CallKey) -> RecordedCall | None:
        return self._by_key.get(key)

    async def record(
        self, key: CallKey, result: str, change: str, card: ShownCard | None = None
    ) -> None:
        """Remember a call that changed a task (staged: it rides along with the next write)."""
        call = RecordedCall(
            tool=key.tool,
            arguments=key.arguments,
            occurrence=key.occurrence,
            result=result,
            change=change,
            card=card,
        )
        self._record.calls.append(call)
        self._by_key[key] = call
        await self._store.save_effects(
            self.thread_id, self.message_id, self._record.model_dump_json(), self._context
        )

    def changes(self) -> list[str]:
        """Every change made for this user message so far, by this run or an earlier one."""
        return [call.change for call in self._record.calls]


def already_done_note(changes: list[str]) -> TResponseInputItem:
    """Told to the model when it answers a message again whose tools already changed tasks:
    a model that words a call differently the second time must not repeat the change."""
    text = (
        "<HiddenContext>\nThis request is being answered again. For it, you already "
        f"{in_words(changes)}; these changes stand. Do not make them again.\n</HiddenContext>"
    )
    return EasyInputMessageParam(
        type="message", role="user", content=[ResponseInputTextParam(type="input_text", text=text)]
    )
