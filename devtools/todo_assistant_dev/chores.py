"""Everyday task titles, as people type them: what seeded threads and benchmark turns add."""

from __future__ import annotations

CHORES: tuple[str, ...] = (
    "buy groceries",
    "call the plumber",
    "renew the passport",
    "book a dentist appointment",
    "water the plants",
    "pay the electricity bill",
    "send the quarterly report",
    "pick up the dry cleaning",
)
