"""Where tasks live: DynamoDB in every deployment, memory for baselines and fast tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from todo_assistant.db.keys import TASK_COUNTER_SK, TASKS_PREFIX, task_sk, user_pk
from todo_assistant.db.table import CounterRow, TaskRow
from todo_assistant.tasks.models import Priority, Task, TaskPatch, TaskStatus


class TaskNotFound(LookupError):
    def __init__(self, number: int) -> None:
        super().__init__(f"task {number} not found")
        self.number = number


class TaskRepository(Protocol):
    def next_number(self, user_id: str) -> int: ...
    def insert(self, user_id: str, task: Task) -> None: ...
    def get(self, user_id: str, number: int) -> Task: ...
    def list(self, user_id: str) -> list[Task]: ...
    def update(self, user_id: str, number: int, patch: TaskPatch, now: datetime) -> Task: ...
    def complete(self, user_id: str, number: int, now: datetime) -> tuple[Task, bool]: ...
    def delete(self, user_id: str, number: int) -> Task: ...


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_row(row: TaskRow) -> Task:
    return Task(
        number=int(row.number),
        title=row.title,
        description=row.description,
        priority=Priority(row.priority),
        due_date=date.fromisoformat(row.due_date) if row.due_date else None,
        status=TaskStatus(row.status),
        created_at=datetime.fromisoformat(row.created_at),
        updated_at=datetime.fromisoformat(row.updated_at),
        completed_at=datetime.fromisoformat(row.completed_at) if row.completed_at else None,
    )


def _is_conditional_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoTaskRepository:
    def next_number(self, user_id: str) -> int:
        # Atomic ADD: concurrent creators get distinct numbers, and a number is never reused
        # because the counter only grows (a failed insert leaves a gap, not a duplicate).
        counter = CounterRow(user_pk(user_id), TASK_COUNTER_SK)
        counter.update(actions=[CounterRow.value.add(1)])
        return int(counter.value)

    def insert(self, user_id: str, task: Task) -> None:
        row = TaskRow(
            user_pk(user_id),
            task_sk(task.number),
            number=task.number,
            title=task.title,
            description=task.description,
            priority=task.priority.value,
            due_date=task.due_date.isoformat() if task.due_date else None,
            status=task.status.value,
            created_at=_iso(task.created_at),
            updated_at=_iso(task.updated_at),
        )
        try:
            row.save(condition=TaskRow.sk.does_not_exist())
        except PutError as error:
            # The number is this call's own (the counter only grows), so a row already there
            # is this very write when an attempt was applied but its answer lost, then retried.
            if _is_conditional_failure(error) and self._stored_as(user_id, task):
                return
            raise

    def _stored_as(self, user_id: str, task: Task) -> bool:
        try:
            row = TaskRow.get(user_pk(user_id), task_sk(task.number), consistent_read=True)
        except DoesNotExist:
            return False
        if not isinstance(row, TaskRow):
            return False
        stored = _from_row(row)
        return stored.created_at == task.created_at and stored.title == task.title

    def get(self, user_id: str, number: int) -> Task:
        try:
            row = TaskRow.get(user_pk(user_id), task_sk(number))
        except DoesNotExist:
            raise TaskNotFound(number) from None
        if not isinstance(row, TaskRow):
            raise TaskNotFound(number)
        return _from_row(row)

    def list(self, user_id: str) -> list[Task]:
        rows = TaskRow.query(user_pk(user_id), TaskRow.sk.startswith(TASKS_PREFIX))
        return [_from_row(row) for row in rows if isinstance(row, TaskRow)]

    def update(self, user_id: str, number: int, patch: TaskPatch, now: datetime) -> Task:
        row = TaskRow(user_pk(user_id), task_sk(number))
        actions: list[Action] = [TaskRow.updated_at.set(_iso(now))]
        fields = patch.model_fields_set
        if "title" in fields and patch.title is not None:
            actions.append(TaskRow.title.set(patch.title))
        if "description" in fields:
            actions.append(
                TaskRow.description.set(patch.description)
                if patch.description
                else TaskRow.description.remove()
            )
        if "priority" in fields and patch.priority is not None:
            actions.append(TaskRow.priority.set(patch.priority.value))
        if "due_date" in fields:
            actions.append(
                TaskRow.due_date.set(patch.due_date.isoformat())
                if patch.due_date
                else TaskRow.due_date.remove()
            )
        if "status" in fields and patch.status is not None:
            actions.append(TaskRow.status.set(patch.status.value))
            actions.append(
                TaskRow.completed_at.set(_iso(now))
                if patch.status is TaskStatus.COMPLETED
                else TaskRow.completed_at.remove()
            )
        try:
            row.update(actions=actions, condition=TaskRow.sk.exists())
        except UpdateError as error:
            if _is_conditional_failure(error):
                raise TaskNotFound(number) from None
            raise
        return _from_row(row)

    def complete(self, user_id: str, number: int, now: datetime) -> tuple[Task, bool]:
        """Mark done in one conditional write; (task, False) when it was already done."""
        row = TaskRow(user_pk(user_id), task_sk(number))
        try:
            row.update(
                actions=[
                    TaskRow.status.set(TaskStatus.COMPLETED.value),
                    TaskRow.updated_at.set(_iso(now)),
                    TaskRow.completed_at.set(_iso(now)),
                ],
                condition=TaskRow.sk.exists() & (TaskRow.status != TaskStatus.COMPLETED.value),
            )
        except UpdateError as error:
            if _is_conditional_failure(error):
                # Missing, or already completed: only this rare path reads the row.
                return self.get(user_id, number), False
            raise
        return _from_row(row), True

    def delete(self, user_id: str, number: int) -> Task:
        """Delete in one conditional write that returns what was deleted."""
        try:
            old = TaskRow._get_connection().delete_item(
                user_pk(user_id),
                task_sk(number),
                condition=TaskRow.sk.exists(),
                return_values="ALL_OLD",
            )
        except DeleteError as error:
            if _is_conditional_failure(error):
                raise TaskNotFound(number) from None
            raise
        row = TaskRow.from_raw_data(old["Attributes"])
        return _from_row(row)
