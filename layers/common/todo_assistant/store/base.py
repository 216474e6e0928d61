"""The store's contract: openai-chatkit's `Store` plus what this app keeps beside it.

Importable without DynamoDB (attachments, the agent's effects ledger and the benchmark's
in-memory store need only the interface); `dynamo.py` is the implementation on the table.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any, Protocol

from chatkit.store import Store, StoreItemType
from chatkit.types import FeedbackKind, ThreadMetadata

from todo_assistant.context import RequestContext
from todo_assistant.ids import new_id

ID_PREFIXES: dict[StoreItemType, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "task": "tsk",
    "workflow": "wf",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}


class TurnCounter(Protocol):
    """Counts a turn inside the transaction that writes its user message, so a refused turn
    writes nothing and costs no extra request (limits.RateLimiter is one)."""

    def add_to(self, transaction: Any, user_id: str) -> list[Any]:
        """Add this request's counter updates to `transaction`; pass the result to `refusal`."""
        ...

    def refusal(self, error: Any, planned: list[Any]) -> Exception | None:
        """The refusal to raise when the cancelled `transaction` ran into a limit, else None."""
        ...


class TodoStore(Store[RequestContext]):
    """openai-chatkit's Store plus the item feedback and tool effects this app keeps, with
    time-sortable ids."""

    def generate_thread_id(self, context: RequestContext) -> str:
        return new_id("thr")

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: RequestContext
    ) -> str:
        return new_id(ID_PREFIXES.get(item_type, "itm"))

    def generate_attachment_id(self, mime_type: str, context: RequestContext) -> str:
        return new_id("atc")

    @abstractmethod
    async def save_feedback(
        self,
        thread_id: str,
        item_ids: Iterable[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> int:
        """Record feedback on the user's own items; returns how many items it applied to."""

    @abstractmethod
    async def load_feedback(self, thread_id: str, context: RequestContext) -> dict[str, str]:
        """Feedback of a thread's items, by item id."""

    @abstractmethod
    async def load_effects(
        self, thread_id: str, message_id: str, context: RequestContext
    ) -> str | None:
        """The tool-effect record of one of the user's messages (`agent/effects.py` owns its
        JSON), None when there is none."""

    @abstractmethod
    async def save_effects(
        self, thread_id: str, message_id: str, record: str, context: RequestContext
    ) -> None:
        """Replace the tool-effect record of one of the user's messages."""

    async def settle(self, context: RequestContext) -> None:
        """Finish the reads the request left running (a store that reads nothing ahead:
        nothing)."""

    async def flush(self, context: RequestContext) -> None:
        """Write whatever the request held back (a store that holds nothing back: nothing)."""
