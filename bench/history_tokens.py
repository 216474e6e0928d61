"""Tokens a turn sends the model, by thread length (10, 100, 1,000 items), before and after.

Each thread is an everyday conversation (adds, lists, completions, thanks: the items real
turns save, tool records and widgets included; tests/support/threads.py), written to
DynamoDB. One more turn ("Thanks!") then runs through the real server with the offline model,
which records the input it was given: that is the history the turn sent.

- after: the history as sent (HISTORY_TOKEN_BUDGET, HISTORY_ITEM_LIMIT at their defaults),
  the turns it held and left out, the items cut, the turn's DynamoDB calls and read units;
- before: what the item-count history (the newest 40 items, whole, widgets as JSON, no tool
  records) would have sent for the same thread;
- tokens are the budget's own estimate; "o200k" is the real count on the o200k_base encoding
  (gpt-4o, gpt-4.1) where tiktoken can load it offline (from LiteLLM's bundled copy).

"+ huge" threads end with three turns that each hold one huge item (pasted notes, a
2,000-task tool output, a very long answer).

    python -m bench.history_tokens
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agents import set_tracing_disabled
from chatkit.agents import ThreadItemConverter
from chatkit.types import ThreadItem, UserMessageItem, WidgetItem

from bench.support import (
    DynamoCallCounter,
    bench_settings,
    dynamodb_backend,
    ops_summary,
    print_table,
)
from tests.support.chat import assistant_text, say
from tests.support.threads import everyday_thread, seed_thread
from todo_assistant.agent.history import HistoryConverter
from todo_assistant.agent.history_budget import estimate_input_tokens
from todo_assistant.agent.todo_agent import build_todo_agent
from todo_assistant.agent.tool_memory import tool_call_record
from todo_assistant.chat.server import TodoChatKitServer, TurnLimits
from todo_assistant.config import Settings
from todo_assistant.context import RequestContext
from todo_assistant.ids import new_id
from todo_assistant.wiring.chatkit import build_store
from todo_assistant.wiring.shared import build_task_service
from todo_assistant_dev.recording_model import RecordingModel
from todo_assistant_dev.stack import prepare_aws_resources

SIZES = (10, 100, 1_000)
BEFORE_ITEMS = 40  # the item count the history was cut by before the budget
_FRAMING_KEYS = frozenset({"type", "role", "status", "id", "detail", "annotations", "logprobs"})


class ItemCountConverter(HistoryConverter):
    """The history as it was converted before: a widget as its whole JSON tree."""

    async def widget_to_input(self, item: WidgetItem) -> Any:
        return await ThreadItemConverter.widget_to_input(self, item)


def o200k_counter() -> Callable[[Sequence[Any]], int] | None:
    """Real o200k_base token counts of model input items, or None offline without LiteLLM."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils/tokenizers"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder))
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
    except Exception:
        return None

    def texts(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, inner in value.items():
                if key not in _FRAMING_KEYS:
                    yield from texts(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from texts(inner)

    def count(items: Sequence[Any]) -> int:
        # The same framing allowance per item as the estimate (4 tokens).
        return sum(
            4 + sum(len(encoding.encode(t, disallowed_special=())) for t in texts(i)) for i in items
        )

    return count


def is_user_message(item: Any) -> bool:
    """A message the user wrote (not a widget or a note described to the model as user text)."""
    if item.get("role") != "user" or item.get("type", "message") != "message":
        return False
    text = str(item.get("content"))
    return "The following graphical UI widget" not in text and "<HiddenContext>" not in text


async def before_input(items: list[ThreadItem], message: ThreadItem) -> list[Any]:
    """The input the item-count history would have sent (it kept no tool records): the
    newest items, the turn's own message included."""
    kept = [i for i in [*items, message] if tool_call_record(i) is None][-BEFORE_ITEMS:]
    return await ItemCountConverter().to_agent_input(kept)


async def measure(settings: Settings, counter: DynamoCallCounter) -> list[list[object]]:
    tasks = build_task_service(settings)
    store = build_store(settings)
    model = RecordingModel()
    server = TodoChatKitServer(
        store,
        build_todo_agent(model, tasks),
        tasks=tasks,
        limits=TurnLimits(
            history_item_limit=settings.history_item_limit,
            history_token_budget=settings.history_token_budget,
        ),
    )
    counter.install()
    real = o200k_counter()
    rows: list[list[object]] = []
    for huge in (False, True):
        for size in SIZES:
            ctx = RequestContext(user_id=f"bench-history-{uuid.uuid4().hex[:8]}")
            thread_id = new_id("thr")
            items = everyday_thread(thread_id, size, huge=huge)
            await seed_thread(store, ctx, items, thread_id)
            asked = len(model.inputs)
            counter.take()
            _, events = await say(server, ctx, "Thanks!", thread_id)
            stats = counter.take()
            if "welcome" not in assistant_text(events):
                raise RuntimeError(f"unexpected answer: {assistant_text(events)!r}")
            after = model.inputs[asked]
            page = await store.load_thread_items(thread_id, None, 2, "desc", ctx)
            [message] = [i for i in page.data if isinstance(i, UserMessageItem)]
            before = await before_input(items, message)
            turns_sent = sum(1 for i in after if is_user_message(i))
            cuts = sum("[… truncated " in str(i) for i in after)
            rows.append(
                [
                    f"{size:,} items{' + huge' if huge else ''}",
                    sum(1 for i in before if is_user_message(i)),
                    f"{estimate_input_tokens(before):,}",
                    f"{real(before):,}" if real else "-",
                    f"{estimate_input_tokens(after):,}",
                    f"{real(after):,}" if real else "-",
                    turns_sent,
                    cuts,
                    stats.total,
                    f"{stats.read_units:.1f}",
                    ops_summary(stats.calls, 1),
                ]
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    set_tracing_disabled(True)
    with dynamodb_backend() as backend:
        settings = bench_settings(backend.endpoint, table_name="todo-assistant-bench-history")
        prepare_aws_resources(settings)
        counter = DynamoCallCounter()
        rows = asyncio.run(measure(settings, counter))
    print(
        f"DynamoDB backend: {backend.label}; HISTORY_TOKEN_BUDGET {settings.history_token_budget:,}"
        f", HISTORY_ITEM_LIMIT {settings.history_item_limit} (before: the newest "
        f"{BEFORE_ITEMS} items, whole)"
    )
    print("Tokens of history sent to the model by one turn ('Thanks!'), by thread length")
    print_table(
        [
            "thread",
            "before: turns",
            "before tokens",
            "before o200k",
            "after tokens",
            "after o200k",
            "after: turns",
            "items cut",
            "DDB calls",
            "read units",
            "calls by operation",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
