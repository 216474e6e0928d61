"""Due dates as people write them (the local model's date words), against a fixed today."""

from __future__ import annotations

from datetime import date

import pytest

from todo_assistant.llm.local.dates import parse_date, split_due_date

MONDAY = date(2026, 11, 23)  # a Monday
FRIDAY = date(2026, 11, 27)
SUNDAY = date(2026, 11, 29)


@pytest.mark.parametrize(
    ("phrase", "today", "expected"),
    [
        ("today", MONDAY, date(2026, 11, 23)),
        ("tonight", MONDAY, date(2026, 11, 23)),
        ("tomorrow", MONDAY, date(2026, 11, 24)),
        ("tomorrow evening", MONDAY, date(2026, 11, 24)),
        ("tomorrow morning", SUNDAY, date(2026, 11, 30)),
        ("the day after tomorrow", MONDAY, date(2026, 11, 25)),
        ("friday", MONDAY, date(2026, 11, 27)),
        ("Fri", MONDAY, date(2026, 11, 27)),
        # A bare weekday is the next one after today, never today itself.
        ("friday", FRIDAY, date(2026, 12, 4)),
        ("friday evening", MONDAY, date(2026, 11, 27)),
        ("this friday", MONDAY, date(2026, 11, 27)),
        ("this friday", FRIDAY, date(2026, 11, 27)),
        # "next X" is X of next week (weeks start on Monday).
        ("next friday", MONDAY, date(2026, 12, 4)),
        ("next monday", MONDAY, date(2026, 11, 30)),
        ("next monday", SUNDAY, date(2026, 11, 30)),
        ("next week", MONDAY, date(2026, 11, 30)),
        ("next month", date(2026, 1, 31), date(2026, 2, 28)),
        ("end of the week", MONDAY, date(2026, 11, 27)),
        ("the end of the month", MONDAY, date(2026, 11, 30)),
        ("in 3 days", MONDAY, date(2026, 11, 26)),
        ("in a week", MONDAY, date(2026, 11, 30)),
        ("in two weeks", MONDAY, date(2026, 12, 7)),
        ("in 1 day", MONDAY, date(2026, 11, 24)),
        ("in 2 months", date(2026, 12, 31), date(2027, 2, 28)),
        ("5 december", MONDAY, date(2026, 12, 5)),
        ("5th december", MONDAY, date(2026, 12, 5)),
        ("5th of december", MONDAY, date(2026, 12, 5)),
        ("december 5", MONDAY, date(2026, 12, 5)),
        ("dec 5th", MONDAY, date(2026, 12, 5)),
        ("5 december 2027", MONDAY, date(2027, 12, 5)),
        ("december 5, 2027", MONDAY, date(2027, 12, 5)),
        # A day already past this year is next year's.
        ("3 january", MONDAY, date(2027, 1, 3)),
        ("23 november", MONDAY, date(2026, 11, 23)),
        ("2026-12-05", MONDAY, date(2026, 12, 5)),
    ],
)
def test_phrases_name_dates(phrase, today, expected):
    words = phrase.lower().replace(",", "").split()
    assert parse_date(words, today) == expected


@pytest.mark.parametrize(
    "phrase",
    [
        "",
        "someday",
        "31 february",
        "2026-13-01",
        "in 0 days",
        "in 9999 days",
        "in many days",
        "next",
        "this",
        "the",
        "december",
        "5",
        "friday friday",
        "in a week or two maybe later today",
    ],
)
def test_non_dates_are_none(phrase):
    assert parse_date(phrase.split(), MONDAY) is None


@pytest.mark.parametrize(
    ("text", "title", "due"),
    [
        ("buy groceries by friday", "buy groceries", date(2026, 11, 27)),
        ("buy groceries by Friday", "buy groceries", date(2026, 11, 27)),
        ("call mom next monday", "call mom", date(2026, 11, 30)),
        ("call mom on next monday", "call mom", date(2026, 11, 30)),
        ("pay rent on 5 December", "pay rent", date(2026, 12, 5)),
        ("renew passport due on december 5th", "renew passport", date(2026, 12, 5)),
        ("water the plants in 3 days", "water the plants", date(2026, 11, 26)),
        ("take out the bins tomorrow evening", "take out the bins", date(2026, 11, 24)),
        ("book flights, before friday", "book flights", date(2026, 11, 27)),
        ("file taxes by the end of the month", "file taxes", date(2026, 11, 30)),
        ("send invoice due 2026-12-01", "send invoice", date(2026, 12, 1)),
        # A weekday or a calendar day needs a preposition before it to count as a due date.
        ("watch friday", "watch friday", None),
        ("read chapter 5", "read chapter 5", None),
        ("plan the may 5 party", "plan the may 5 party", None),
        ("tomorrow", "tomorrow", None),
        ("by friday", "by friday", None),
    ],
)
def test_trailing_dates_are_split_from_titles(text, title, due):
    assert split_due_date(text, MONDAY) == (title, due)
