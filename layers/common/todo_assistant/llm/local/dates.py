"""Due dates as people write them, for the offline local model.

Works on words, not on one big regular expression: the text is split into tokens once and
every rule looks at a bounded number of them, so the work is linear in the message length.

Understood (case-insensitive, `today` is the caller's date):
- `today`, `tonight`, `tomorrow`, `the day after tomorrow`, each optionally followed by
  `morning` / `afternoon` / `evening` / `night` (the time of day is dropped: tasks have dates);
- a weekday (`friday`, `fri`): the next one after today; `this friday`: this week's (today
  included); `next friday`: the one in next week (weeks start on Monday);
- `next week` (today + 7 days), `next month` (same day next month), `end of the week`
  (the coming Friday, today if it is Friday), `end of the month`;
- `in 3 days`, `in a week`, `in two weeks`, `in 1 month` (numbers as digits or one to twelve);
- `5 December`, `5th Dec`, `December 5`, `Dec 5th`, optionally with a year (`5 December 2027`,
  `December 5, 2027`); without a year the next such day that is not in the past;
- ISO dates, `2026-12-05`.

In a task title a date is recognised at the end, after `by`, `due`, `due on`, `due by`,
`on`, `for`, `before`, `until` or `in` (`in 3 days`); `today`, `tonight`, `tomorrow`,
`this ...`, `next ...` and `in N days` also stand on their own ("call mom tomorrow").
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
TIMES_OF_DAY = frozenset({"morning", "afternoon", "evening", "night"})
# Words that introduce a trailing date in a task title.
PREPOSITIONS = (
    ("due", "on"),
    ("due", "by"),
    ("by",),
    ("due",),
    ("on",),
    ("for",),
    ("before",),
    ("until",),
)
# The longest date phrase has six words ("the day after tomorrow evening", "december 5 2027").
MAX_PHRASE_WORDS = 6

_TOKEN = re.compile(r"\S+")
_ORDINAL = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEAR = re.compile(r"\d{4}")


def _word(token: str) -> str:
    return token.lower().strip(",.;:!?()\"'")


def _number(word: str) -> int | None:
    if word.isdigit() and len(word) <= 3:
        return int(word)
    return NUMBER_WORDS.get(word)


def _add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _day_of_month(word: str) -> int | None:
    match = _ORDINAL.fullmatch(word)
    return int(match.group(1)) if match else None


def _calendar_day(day: int, month: int, year: int | None, today: date) -> date | None:
    try:
        if year is not None:
            return date(year, month, day)
        found = date(today.year, month, day)
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def _weekday(index: int, today: date, *, mode: str) -> date:
    ahead = (index - today.weekday()) % 7
    if mode == "this":
        return today + timedelta(days=ahead)
    if mode == "next":
        next_monday = today + timedelta(days=7 - today.weekday())
        return next_monday + timedelta(days=index)
    return today + timedelta(days=ahead or 7)


def parse_date(words: list[str], today: date) -> date | None:
    """The date that exactly these words name, or None. `words` are lower-case tokens."""
    if words and words[-1] in TIMES_OF_DAY and len(words) > 1:
        words = words[:-1]
    if not words or len(words) > MAX_PHRASE_WORDS:
        return None
    if words[0] == "the" and len(words) > 1 and words[1] != "day":
        words = words[1:]
    phrase = " ".join(words)
    simple = {
        "today": today,
        "tonight": today,
        "this morning": today,
        "this afternoon": today,
        "this evening": today,
        "tomorrow": today + timedelta(days=1),
        "the day after tomorrow": today + timedelta(days=2),
        "day after tomorrow": today + timedelta(days=2),
        "next week": today + timedelta(days=7),
        "next month": _add_months(today, 1),
        "end of the week": today + timedelta(days=(4 - today.weekday()) % 7),
        "end of week": today + timedelta(days=(4 - today.weekday()) % 7),
        "end of the month": date(
            today.year, today.month, calendar.monthrange(today.year, today.month)[1]
        ),
        "end of month": date(
            today.year, today.month, calendar.monthrange(today.year, today.month)[1]
        ),
    }
    if phrase in simple:
        return simple[phrase]
    if len(words) == 1 and _ISO.fullmatch(words[0]):
        try:
            return date.fromisoformat(words[0])
        except ValueError:
            return None
    if len(words) == 1 and words[0] in WEEKDAYS:
        return _weekday(WEEKDAYS[words[0]], today, mode="coming")
    if len(words) == 2 and words[0] in ("this", "next") and words[1] in WEEKDAYS:
        return _weekday(WEEKDAYS[words[1]], today, mode=words[0])
    if len(words) == 3 and words[0] == "in":
        amount = _number(words[1])
        unit = words[2].rstrip("s")
        if amount is not None and 0 < amount <= 366:
            if unit == "day":
                return today + timedelta(days=amount)
            if unit == "week":
                return today + timedelta(weeks=amount)
            if unit == "month" and amount <= 24:
                return _add_months(today, amount)
    return _day_and_month(words, today)


def _day_and_month(words: list[str], today: date) -> date | None:
    """`5 december [2027]`, `5th of december`, `december 5[th][,] [2027]`."""
    year: int | None = None
    if len(words) >= 3 and _YEAR.fullmatch(words[-1]):
        year = int(words[-1])
        words = words[:-1]
    if len(words) == 3 and words[1] == "of":
        words = [words[0], words[2]]
    if len(words) != 2:
        return None
    first, second = words
    if first in MONTHS and (day := _day_of_month(second)) is not None:
        return _calendar_day(day, MONTHS[first], year, today)
    if second in MONTHS and (day := _day_of_month(first)) is not None:
        return _calendar_day(day, MONTHS[second], year, today)
    return None


def _stands_alone(words: list[str]) -> bool:
    """Date phrases clear enough to recognise without a preposition before them."""
    head = words[0]
    return head in ("today", "tonight", "tomorrow", "this", "next", "in") or words[:2] == [
        "the",
        "day",
    ]


def split_due_date(text: str, today: date) -> tuple[str, date | None]:
    """(text without its trailing date phrase, the date), or (text, None) when it has none.

    "buy groceries by friday" -> ("buy groceries", the coming Friday).
    """
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text)]
    words = [_word(text[start:end]) for start, end in spans]
    count = len(words)
    # Longest phrase first, so "next friday" wins over "friday".
    for size in range(min(MAX_PHRASE_WORDS, count - 1), 0, -1):
        start = count - size
        found = parse_date(words[start:], today)
        if found is None:
            continue
        for preposition in PREPOSITIONS:
            head = start - len(preposition)
            if head >= 1 and tuple(words[head:start]) == preposition:
                return text[: spans[head][0]].rstrip(" ,;:-"), found
        if _stands_alone(words[start:]):
            return text[: spans[start][0]].rstrip(" ,;:-"), found
    return text, None
