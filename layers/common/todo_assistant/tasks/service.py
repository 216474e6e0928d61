"""Task operations shared by the agent tools and the REST API.

Tools refer to a task the way people do: by number ("task 3", "#3") or by words of its title
("the meeting task"). `resolve` turns such a reference into exactly one task or a clear
answer that nothing, or several things, match.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from datetime import UTC, datetime

from todo_assistant.tasks.models import StatusFilter, Task, TaskCreate, TaskPatch
from todo_assistant.tasks.repository import TaskNotFound, TaskRepository

__all__ = ["AmbiguousTaskReference", "NoTaskMatches", "TaskNotFound", "TaskService"]

_NUMBER_REF = re.compile(r"^\s*(?:task\s*)?(?:number\s*|no\.?\s*)?#?\s*(\d{1,9})\s*$", re.I)
_FILLER = re.compile(r"\b(the|a|an|my|task|tasks|todo|item|one|called|named|about)\b", re.I)


class NoTaskMatches(LookupError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"no task matches {reference!r}")
        self.reference = reference


class AmbiguousTaskReference(LookupError):
    def __init__(self, reference: str, candidates: list[Task]) -> None:
        numbers = ", ".join(f"#{t.number} {t.title!r}" for t in candidates)
        super().__init__(f"{reference!r} matches several tasks: {numbers}")
        self.reference = reference
        self.candidates = candidates


def _now() -> datetime:
    return datetime.now(UTC)


def _words(text: str) -> str:
    return " ".join(_FILLER.sub(" ", text.lower()).split())


class TaskService:
    """Async facade; the repository is synchronous (pynamodb) and runs in worker threads."""

    def __init__(self, repository: TaskRepository) -> None:
        self._repo = repository

    async def add(self, user_id: str, data: TaskCreate) -> Task:
        return await asyncio.to_thread(self._add, user_id, data)

    def _add(self, user_id: str, data: TaskCreate) -> Task:
        now = _now()
        task = Task(
            number=self._repo.next_number(user_id),
            title=data.title,
            description=data.description,
            priority=data.priority,
            due_date=data.due_date,
            created_at=now,
            updated_at=now,
        )
        self._repo.insert(user_id, task)
        return task

    async def get(self, user_id: str, number: int) -> Task:
        return await asyncio.to_thread(self._repo.get, user_id, number)

    async def list(
        self, user_id: str, status: StatusFilter = StatusFilter.ALL, text: str | None = None
    ) -> list[Task]:
        tasks = await asyncio.to_thread(self._repo.list, user_id)
        if status is not StatusFilter.ALL:
            tasks = [t for t in tasks if t.status.value == status.value]
        if text and text.strip():
            needle = text.strip().lower()
            tasks = [
                t
                for t in tasks
                if needle in t.title.lower() or needle in (t.description or "").lower()
            ]
        return tasks

    async def update(self, user_id: str, number: int, patch: TaskPatch) -> Task:
        if patch.is_empty():
            return await self.get(user_id, number)
        return await asyncio.to_thread(self._repo.update, user_id, number, patch, _now())

    async def complete(self, user_id: str, number: int) -> Task:
        task, _ = await self.complete_if_pending(user_id, number)
        return task

    async def complete_if_pending(self, user_id: str, number: int) -> tuple[Task, bool]:
        """(task, whether this call completed it): one conditional write."""
        return await asyncio.to_thread(self._repo.complete, user_id, number, _now())

    async def delete(self, user_id: str, number: int) -> Task:
        return await asyncio.to_thread(self._repo.delete, user_id, number)

    async def number_of(self, user_id: str, reference: str) -> int:
        """The number a reference names: read from it when it is one ("3", "task #3"),
        else found by title (one Query). Numbers are checked by the write that uses them."""
        number = _NUMBER_REF.match(reference)
        if number:
            return int(number.group(1))
        return (await self.resolve(user_id, reference)).number

    async def resolve(self, user_id: str, reference: str) -> Task:
        """Find exactly one task by number or by (fuzzy) title words."""
        number = _NUMBER_REF.match(reference)
        if number:
            return await self.get(user_id, int(number.group(1)))
        wanted = _words(reference)
        if not wanted:
            raise NoTaskMatches(reference)
        tasks = await asyncio.to_thread(self._repo.list, user_id)
        return pick_task(reference, wanted, tasks)


def pick_task(reference: str, wanted: str, tasks: list[Task]) -> Task:
    exact = [t for t in tasks if _words(t.title) == wanted]
    if len(exact) == 1:
        return exact[0]
    contains = exact or [t for t in tasks if wanted in _words(t.title)]
    if not contains:
        # Every word of the reference appears in the title, in any order.
        parts = wanted.split()
        contains = [t for t in tasks if all(p in _words(t.title) for p in parts)]
    if not contains:
        titles = {_words(t.title): t for t in tasks}
        close = difflib.get_close_matches(wanted, list(titles), n=3, cutoff=0.75)
        contains = [titles[c] for c in close]
    if not contains:
        raise NoTaskMatches(reference)
    if len(contains) > 1:
        raise AmbiguousTaskReference(reference, contains)
    return contains[0]
