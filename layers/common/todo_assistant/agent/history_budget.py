"""The model's history within a token budget (HISTORY_TOKEN_BUDGET).

What a turn sends the model is chosen by tokens, not by a count of items:

- The thread is cut into turns: a user message and everything after it up to the next one
  (tool calls and their outputs, widgets, answers, hidden notes).
- The current turn (the newest) is always sent. Only if it alone exceeds the budget are its
  largest texts cut down until it fits.
- Earlier turns follow, newest first, each whole or not at all, while they fit in what the
  budget has left; the first one that does not fit ends the history (no gaps). Before it is
  counted, any single item of an earlier turn larger than a quarter of the budget is cut down
  to that size, so one huge message cannot push every other turn out.
- A cut keeps the beginning and the end of the text, with `[… truncated N characters]` in
  place of the middle. A tool call and its output are one thread item (tool_memory.py), so a
  turn is never sent with half of a call.

Tokens are estimated offline (tiktoken would have to download its encodings, which a Lambda
function should not do): UTF-8 bytes / 3, the bytes of non-ASCII characters counted 1.25
times, plus a few tokens per item for its framing. Against OpenAI's o200k and cl100k encodings
and Anthropic's tokenizer this over-counts English by about 1.6x and is at or above the real
count for the tools' JSON output, widget text and Chinese or Japanese prose (checked in
tests/unit/test_history_budget.py where the encodings are available offline). Random-looking
text (ids, base64, emoji, rare CJK characters) can take up to about 2.2x more tokens than
estimated; never more than 3x, since no token is shorter than a byte.

The items the budget chooses from are the newest HISTORY_ITEM_LIMIT items, read with the thread
in the turn's one opening Query (store/dynamo.py): the read stays one call whatever the
thread's length.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any

from agents import TResponseInputItem
from chatkit.agents import ThreadItemConverter
from chatkit.types import ThreadItem, UserMessageItem

BYTES_PER_TOKEN = 3
# Chinese takes about 1.15 tokens per character (3 bytes) on cl100k: a quarter more per byte.
NON_ASCII_EXTRA = 0.25
# Role, separators and the like around every item (OpenAI documents 3-4 per message).
ITEM_OVERHEAD_TOKENS = 4
# An image in the history: OpenAI bills a 1024x1024 high-detail image at 765 tokens.
IMAGE_TOKENS = 1_000
# Keys that are framing (counted in the overhead) or that hold images.
_FRAMING_KEYS = frozenset({"type", "role", "status", "id", "detail", "annotations", "logprobs"})
_IMAGE_KEYS = frozenset({"image_url", "file_data", "file_url", "file_id"})
# String values that may be cut: message text, tool output. Never a call's arguments (JSON
# the provider may parse), ids or names.
_CUTTABLE_KEYS = frozenset({"text", "content", "output"})
# An earlier item may take at most this share of the budget.
ITEM_SHARE = 4
# A cut never leaves less than this much of a text.
MIN_KEPT_TOKENS = 16
_MARKER_RESERVE_BYTES = 64


def truncation_marker(removed_chars: int) -> str:
    return f"\n[… truncated {removed_chars} characters]\n"


def estimate_text_tokens(text: str) -> int:
    """UTF-8 bytes / 3, each byte of a non-ASCII character counted 1.25 times."""
    size = len(text.encode("utf-8"))
    if text.isascii():
        return math.ceil(size / BYTES_PER_TOKEN)
    other = size - len(text.encode("ascii", errors="ignore"))
    return math.ceil((size + other * NON_ASCII_EXTRA) / BYTES_PER_TOKEN)


def _value_tokens(value: object) -> int:
    if isinstance(value, str):
        return estimate_text_tokens(value)
    if isinstance(value, dict):
        tokens = 0
        for key, inner in value.items():
            if key in _IMAGE_KEYS and inner:
                tokens += IMAGE_TOKENS
            elif key not in _FRAMING_KEYS:
                tokens += _value_tokens(inner)
        return tokens
    if isinstance(value, list | tuple):
        return sum(_value_tokens(inner) for inner in value)
    return 0 if value is None else 1


def estimate_tokens(item: TResponseInputItem) -> int:
    """Estimated tokens of one model input item."""
    return ITEM_OVERHEAD_TOKENS + _value_tokens(item)


def estimate_input_tokens(items: Sequence[TResponseInputItem]) -> int:
    return sum(estimate_tokens(item) for item in items)


def truncate_text(text: str, max_tokens: int) -> str:
    """`text` if it fits in `max_tokens`, else its beginning (two thirds) and end (one third)
    with a marker saying how many characters were left out between them."""
    total = estimate_text_tokens(text)
    if total <= max_tokens:
        return text
    data = text.encode("utf-8")
    # The bytes to keep at this text's own bytes-per-token rate, less room for the marker.
    room = max(len(data) * max_tokens // total - _MARKER_RESERVE_BYTES, 0)
    while True:
        # "ignore" drops a character cut in half at either edge.
        head = data[: room * 2 // 3].decode("utf-8", errors="ignore")
        tail_bytes = room // 3
        tail = data[len(data) - tail_bytes :].decode("utf-8", errors="ignore") if tail_bytes else ""
        cut = head + truncation_marker(len(text) - len(head) - len(tail)) + tail
        if room == 0 or estimate_text_tokens(cut) <= max_tokens:
            return cut
        room = room * 9 // 10


type _Slot = tuple[MutableMapping[str, Any] | MutableSequence[Any], Any]


def _cuttable_slots(value: object, key: object = None) -> Iterator[_Slot]:
    """(container, key) of every string that may be cut, inside one input item."""
    if isinstance(value, dict):
        for inner_key, inner in value.items():
            if isinstance(inner, str):
                if inner_key in _CUTTABLE_KEYS:
                    yield value, inner_key
            elif inner_key not in _FRAMING_KEYS and inner_key not in _IMAGE_KEYS:
                yield from _cuttable_slots(inner, inner_key)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            if isinstance(inner, str) and key in _CUTTABLE_KEYS:
                yield value, index
            else:
                yield from _cuttable_slots(inner, key)


def fit(
    items: Sequence[TResponseInputItem], max_tokens: int
) -> tuple[list[TResponseInputItem], int]:
    """Copies of `items` whose estimate is at most `max_tokens` where cutting texts can get
    there: the largest text is cut first, by as much as is over. Returns the items and how
    many texts were cut."""
    fitted = [copy.deepcopy(item) for item in items]
    cuts = 0
    excess = estimate_input_tokens(fitted) - max_tokens
    while excess > 0:
        slots = [slot for item in fitted for slot in _cuttable_slots(item)]
        if not slots:
            break
        container, key = max(slots, key=lambda slot: estimate_text_tokens(slot[0][slot[1]]))
        text: str = container[key]
        current = estimate_text_tokens(text)
        target = max(current - excess, MIN_KEPT_TOKENS)
        if target >= current:
            break  # every text is already as short as a cut leaves it
        container[key] = truncate_text(text, target)
        cuts += 1
        excess = estimate_input_tokens(fitted) - max_tokens
    return fitted, cuts


@dataclass(frozen=True)
class History:
    """What one turn sends the model, and what that cost."""

    input: list[TResponseInputItem]
    tokens: int
    # Turns sent (the current one included) and turns of the window left out.
    turns: int
    turns_left_out: int
    # Texts cut down to fit.
    cuts: int


def split_turns(items: Sequence[ThreadItem], *, whole_thread: bool) -> list[list[ThreadItem]]:
    """The items (oldest first) as turns: each starts with a user message.

    Items before the window's first user message belong to a turn whose message was not read
    (the window starts inside it): they are left out unless the window holds the whole thread
    or no user message at all (then they are the current turn).
    """
    turns: list[list[ThreadItem]] = []
    for item in items:
        if isinstance(item, UserMessageItem) or not turns:
            turns.append([])
        turns[-1].append(item)
    if len(turns) > 1 and not whole_thread and not isinstance(turns[0][0], UserMessageItem):
        turns = turns[1:]
    return turns


async def history_within_budget(
    items: Sequence[ThreadItem],
    converter: ThreadItemConverter,
    max_tokens: int,
    *,
    whole_thread: bool,
) -> History:
    """The model input for a turn from the thread's newest `items` (oldest first), within
    `max_tokens` (see the module docstring for the rules)."""
    turns = split_turns(items, whole_thread=whole_thread)
    if not turns:
        return History([], 0, 0, 0, 0)
    current, cuts = fit(await converter.to_agent_input(turns[-1]), max_tokens)
    left = max_tokens - estimate_input_tokens(current)
    item_cap = max(max_tokens // ITEM_SHARE, MIN_KEPT_TOKENS)
    earlier: list[list[TResponseInputItem]] = []
    for turn in reversed(turns[:-1]):
        converted: list[TResponseInputItem] = []
        turn_cuts = 0
        for item in await converter.to_agent_input(turn):
            capped, item_cuts = fit([item], item_cap)
            converted.extend(capped)
            turn_cuts += item_cuts
        cost = estimate_input_tokens(converted)
        if cost > left:
            break
        earlier.append(converted)
        left -= cost
        cuts += turn_cuts
    sent = [item for turn_input in reversed(earlier) for item in turn_input] + current
    return History(
        input=sent,
        tokens=estimate_input_tokens(sent),
        turns=len(earlier) + 1,
        turns_left_out=len(turns) - 1 - len(earlier),
        cuts=cuts,
    )
