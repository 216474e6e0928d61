"""Ranking of tasks for a typed query: what `@`-mention search and the task panel show first."""

from __future__ import annotations

import re

from todo_assistant.tasks.models import Task

_NUMBER_QUERY = re.compile(r"^#?(\d{1,9})$")


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())


def match_rank(task: Task, query: str) -> int | None:
    """0 number, 1 exact title, 2 title prefix, 3 a title word starts with it, 4 in the title,
    5 in the description; None when the task does not match at all."""
    number = _NUMBER_QUERY.match(query)
    if number and int(number.group(1)) == task.number:
        return 0
    title = _normalized(task.title)
    if title == query:
        return 1
    if title.startswith(query):
        return 2
    if any(word.startswith(query) for word in re.split(r"[\s\-_/,.:;()]+", title) if word):
        return 3
    if query in title:
        return 4
    if query in _normalized(task.description or ""):
        return 5
    return None


def rank_tasks(tasks: list[Task], query: str, limit: int | None = None) -> list[Task]:
    """Matching tasks, best match first (ties: lower number first), at most `limit`."""
    wanted = _normalized(query)
    if not wanted:
        return tasks[:limit]
    ranked: list[tuple[int, int, Task]] = []
    for task in tasks:
        rank = match_rank(task, wanted)
        if rank is not None:
            ranked.append((rank, task.number, task))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [task for _, _, task in ranked][:limit]
