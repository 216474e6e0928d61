"""The model's history within a token budget: the estimate, cuts, and which turns are sent."""

from __future__ import annotations

import importlib.util
import json
import random
import string
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from agents.models.chatcmpl_converter import Converter
from chatkit.types import ThreadItem
from openai.types.responses import ResponseInputParam
from pydantic import TypeAdapter

from tests.support.items import assistant, user
from tests.support.threads import everyday_thread
from todo_assistant.agent.history import HistoryConverter, failed_turn_marker
from todo_assistant.agent.history_budget import (
    IMAGE_TOKENS,
    ITEM_OVERHEAD_TOKENS,
    ITEM_SHARE,
    estimate_input_tokens,
    estimate_text_tokens,
    estimate_tokens,
    fit,
    history_within_budget,
    split_turns,
    truncate_text,
)
from todo_assistant.agent.tool_memory import ToolCallRecord
from todo_assistant.agent.tools import tool_result
from todo_assistant.tasks.models import Task
from todo_assistant.widgets.events import task_summary
from todo_assistant.widgets.tasks import task_list_copy_text

MARKER = "[… truncated "


def text_of(item: Any) -> str:
    content = item.get("content") if isinstance(item, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content)
    return str(item.get("output", "")) if isinstance(item, dict) else ""


def assert_pairs_whole(items: list[Any]) -> None:
    """Every function call is directly followed by its output, and every output by its call."""
    for index, item in enumerate(items):
        if item.get("type") == "function_call":
            following = items[index + 1]
            assert following["type"] == "function_call_output"
            assert following["call_id"] == item["call_id"]
        if item.get("type") == "function_call_output":
            assert items[index - 1].get("call_id") == item["call_id"]


# -- the estimate ---------------------------------------------------------------------------
def test_text_estimate_is_utf8_bytes_over_three():
    assert estimate_text_tokens("") == 0
    assert estimate_text_tokens("abc") == 1
    assert estimate_text_tokens("abcd") == 2
    assert estimate_text_tokens("日本語の") == 5  # 12 bytes, counted as 15
    assert estimate_text_tokens("a日") == 2  # 1 + 3 * 1.25 bytes


def test_item_estimate_counts_what_the_model_reads():
    message = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "x" * 30}],
    }
    assert estimate_tokens(message) == ITEM_OVERHEAD_TOKENS + 10  # framing keys are overhead
    call = {"type": "function_call", "call_id": "c" * 3, "name": "n" * 3, "arguments": "{}"}
    assert estimate_tokens(call) == ITEM_OVERHEAD_TOKENS + 1 + 1 + 1
    image = {
        "type": "message",
        "role": "user",
        "content": [
            {"type": "input_image", "detail": "auto", "image_url": "https://x/" + "a" * 900}
        ],
    }
    assert estimate_tokens(image) == ITEM_OVERHEAD_TOKENS + IMAGE_TOKENS  # not the URL's length


def _tokenizers_dir() -> Path | None:
    """Encodings that ship inside LiteLLM (a dev dependency): tiktoken works offline there."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


def _sample_texts() -> dict[str, str]:
    now = datetime(2026, 12, 1, 9, 0)
    tasks = [
        Task(
            number=n,
            title=f"Call the plumber about leak {n}",
            due_date=date(2026, 12, n % 28 + 1),
            created_at=now,
            updated_at=now,
        )
        for n in range(1, 40)
    ]
    return {
        "english": "Add a task to water the plants tomorrow morning, and remind me to call the "
        "plumber about the leaking kitchen sink before Friday. " * 30,
        # Exactly what list_tasks returns to the model.
        "tool output JSON": tool_result(
            True, "39 tasks", tasks=[task_summary(t) for t in tasks], widget="task_list"
        ),
        "widget text": task_list_copy_text(tasks, "39 tasks"),
        "chinese": "请帮我添加一个任务：明天早上给植物浇水，然后打电话给水管工修理厨房水槽。" * 30,  # noqa: RUF001
        "japanese": "明日の朝、植物に水をやるタスクを追加してください。配管工に電話して。" * 30,
    }


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_the_estimate_is_at_least_the_real_count_for_everyday_text(monkeypatch, encoding):
    tiktoken = pytest.importorskip("tiktoken")
    folder = _tokenizers_dir()
    if folder is None:
        pytest.skip("no offline tiktoken encodings (LiteLLM not installed)")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    try:
        encoder = tiktoken.get_encoding(encoding)
    except Exception:  # the encoding is not in the bundle and cannot be downloaded here
        pytest.skip(f"{encoding} not available offline")
    for name, text in _sample_texts().items():
        real = len(encoder.encode(text))
        estimate = estimate_text_tokens(text)
        assert estimate >= real, (name, estimate, real)
        if text.isascii():
            assert estimate <= 2 * real, (name, estimate, real)  # and not wildly above it
    # Random-looking text can take more tokens than estimated, never more than its bytes.
    rng = random.Random(7)
    noise = "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=3_000))
    real = len(encoder.encode(noise))
    assert estimate_text_tokens(noise) < real <= len(noise.encode())
    assert real <= 3 * estimate_text_tokens(noise)


# -- cuts -----------------------------------------------------------------------------------
def test_a_text_that_fits_is_left_alone():
    assert truncate_text("short", 10) == "short"


def test_a_cut_keeps_the_beginning_and_the_end_and_says_how_much_is_gone():
    text = "BEGIN " + "middle " * 5_000 + " END"
    cut = truncate_text(text, 200)
    assert cut.startswith("BEGIN ") and cut.endswith(" END")
    assert estimate_text_tokens(cut) <= 200
    head, rest = cut.split("\n[… truncated ", 1)
    removed, tail = rest.split(" characters]\n", 1)
    assert int(removed) == len(text) - len(head) - len(tail)
    assert text.startswith(head) and text.endswith(tail)


def test_a_cut_never_splits_a_character():
    text = "日本語のテキスト" * 2_000
    cut = truncate_text(text, 100)
    assert "\ufffd" not in cut
    assert estimate_text_tokens(cut) <= 100


def test_fit_cuts_the_largest_text_first_and_never_a_calls_arguments():
    record = ToolCallRecord(
        call_id="call_1",
        name="list_tasks",
        arguments=json.dumps({"text": "a" * 3_000}),
        output="o" * 30_000,
    )
    items = [*record.to_input(), {"type": "message", "role": "assistant", "content": "small"}]
    fitted, cuts = fit(items, 2_000)
    assert cuts == 1
    assert estimate_input_tokens(fitted) <= 2_000
    assert fitted[0]["arguments"] == items[0]["arguments"]  # valid JSON, untouched
    assert MARKER in fitted[1]["output"] and fitted[2]["content"] == "small"
    assert items[1]["output"] == "o" * 30_000  # the caller's items are not changed


def test_fit_stops_when_nothing_more_can_be_cut():
    call = {"type": "function_call", "call_id": "c", "name": "n", "arguments": "x" * 3_000}
    fitted, cuts = fit([call], 100)
    assert (fitted, cuts) == ([call], 0)


# -- turns ----------------------------------------------------------------------------------
def test_turns_start_at_user_messages_and_a_partial_first_turn_is_dropped():
    items: list[ThreadItem] = [
        assistant("a0", "the end of a turn whose message was not read"),
        user("u1", "one"),
        assistant("a1", "1"),
        user("u2", "two"),
    ]
    assert [[i.id for i in t] for t in split_turns(items, whole_thread=False)] == [
        ["u1", "a1"],
        ["u2"],
    ]
    # Read to its start, the thread's first items are a turn of their own.
    assert len(split_turns(items, whole_thread=True)) == 3
    # A window with no user message at all is the current turn.
    assert split_turns(items[:1], whole_thread=False) == [items[:1]]


async def test_an_everyday_thread_sends_its_newest_whole_turns_within_the_budget():
    items = [*everyday_thread("thr_1", 1_000), user("u_now", "What's next?")]
    window = items[-100:]
    # (From 2,000 tokens on, a quarter of the budget holds any everyday item whole.)
    for budget in (2_000, 4_000, 8_000, 16_000):
        history = await history_within_budget(
            window, HistoryConverter(), budget, whole_thread=False
        )
        assert history.tokens == estimate_input_tokens(history.input) <= budget
        assert_pairs_whole(history.input)
        # The current message is last; what precedes it is the newest turns, whole.
        assert text_of(history.input[-1]) == "What's next?"
        expected: list[Any] = []
        for turn in split_turns(window, whole_thread=False)[-history.turns :]:
            expected += await HistoryConverter().to_agent_input(turn)
        assert history.input == expected
        assert history.cuts == 0
    roomy = await history_within_budget(window, HistoryConverter(), 1_000_000, whole_thread=False)
    assert roomy.turns_left_out == 0


async def test_huge_items_are_cut_to_a_share_of_the_budget_with_a_marker():
    items = everyday_thread("thr_1", 1_000, huge=True)
    items.append(user("u_now", "Thanks!"))
    budget = 16_000
    history = await history_within_budget(
        items[-100:], HistoryConverter(), budget, whole_thread=False
    )
    assert history.tokens <= budget
    assert_pairs_whole(history.input)
    assert text_of(history.input[-1]) == "Thanks!"
    cut = [item for item in history.input if MARKER in text_of(item)]
    assert len(cut) == history.cuts == 3  # the pasted notes, the 2,000-task output, the essay
    assert all(estimate_tokens(item) <= budget // ITEM_SHARE for item in cut)
    # What the item count alone sent before: the newest 40 items, whole.
    before = await HistoryConverter().to_agent_input(items[-40:])
    assert estimate_input_tokens(before) > 10 * budget


async def test_the_current_turn_is_always_sent_and_cut_only_if_it_alone_is_too_big():
    earlier = [user("u1", "hello"), assistant("a1", "hi")]
    huge = user("u2", "Please read this: " + "lorem ipsum dolor " * 3_000)
    history = await history_within_budget(
        [*earlier, huge], HistoryConverter(), 1_000, whole_thread=True
    )
    assert history.turns == 1 and history.turns_left_out == 1
    assert history.tokens <= 1_000
    [sent] = history.input
    assert text_of(sent).startswith("Please read this: ") and MARKER in text_of(sent)


async def test_a_failed_turn_is_still_left_out_per_turn():
    items: list[ThreadItem] = [
        user("u1", "Add a task to buy milk"),
        assistant("a1", "Adding #1 Bu"),
        failed_turn_marker("m1", "thr_1", "connection_lost", incomplete_item_id="a1"),
        user("u2", "What's pending?"),
    ]
    history = await history_within_budget(items, HistoryConverter(), 16_000, whole_thread=True)
    texts = [text_of(i) for i in history.input]
    assert "Add a task to buy milk" not in texts and texts[-1] == "What's pending?"


async def test_the_history_is_valid_input_for_every_model_path():
    items = everyday_thread("thr_1", 200, huge=True)
    items.append(user("u_now", "Thanks!"))
    history = await history_within_budget(
        items[-100:], HistoryConverter(), 8_000, whole_thread=False
    )
    TypeAdapter(ResponseInputParam).validate_python(history.input)
    messages = [dict(m) for m in Converter.items_to_messages(history.input, model="gpt-test")]
    roles = [m["role"] for m in messages]
    assert "tool" in roles and roles[-1] == "user"
    for index, message in enumerate(messages):
        for offset, call in enumerate(message.get("tool_calls") or [], start=1):
            assert messages[index + offset]["tool_call_id"] == call["id"]
