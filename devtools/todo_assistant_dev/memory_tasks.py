"""Tasks in memory, with the DynamoDB repository's contract: for the benchmarks' in-memory
baseline and for tests that need no table. Never part of the Lambda layer."""

from __future__ import annotations

import threading
from datetime import datetime

from pynamodb.exceptions import PutError

from todo_assistant.tasks.models import Task, TaskPatch, TaskStatus
from todo_assistant.tasks.repository import TaskNotFound


class MemoryTaskRepository:
    """Same contract as the DynamoDB repository, for baselines and store-free tests."""

    def __init__(self) -> None:
        self._tasks: dict[str, dict[int, Task]] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def next_number(self, user_id: str) -> int:
        with self._lock:
            self._counters[user_id] = self._counters.get(user_id, 0) + 1
            return self._counters[user_id]

    def insert(self, user_id: str, task: Task) -> None:
        with self._lock:
            tasks = self._tasks.setdefault(user_id, {})
            if task.number in tasks:
                raise PutError(f"task {task.number} exists")
            tasks[task.number] = task

    def get(self, user_id: str, number: int) -> Task:
        task = self._tasks.get(user_id, {}).get(number)
        if task is None:
            raise TaskNotFound(number)
        return task

    def list(self, user_id: str) -> list[Task]:
        return [self._tasks[user_id][n] for n in sorted(self._tasks.get(user_id, {}))]

    def update(self, user_id: str, number: int, patch: TaskPatch, now: datetime) -> Task:
        with self._lock:
            task = self.get(user_id, number)
            changes = patch.model_dump(include=patch.model_fields_set)
            if changes.get("title") is None:
                changes.pop("title", None)
            for required in ("priority", "status"):
                if changes.get(required) is None:
                    changes.pop(required, None)
            if "status" in changes:
                done = changes["status"] == TaskStatus.COMPLETED
                changes["completed_at"] = now if done else None
            updated = task.model_copy(update={**changes, "updated_at": now})
            self._tasks[user_id][number] = updated
            return updated

    def complete(self, user_id: str, number: int, now: datetime) -> tuple[Task, bool]:
        with self._lock:
            task = self.get(user_id, number)
            if task.status is TaskStatus.COMPLETED:
                return task, False
        return self.update(user_id, number, TaskPatch(status=TaskStatus.COMPLETED), now), True

    def delete(self, user_id: str, number: int) -> Task:
        with self._lock:
            task = self._tasks.get(user_id, {}).pop(number, None)
            if task is None:
                raise TaskNotFound(number)
            return task
