"""Task service and repositories: numbering, updates, lookups, isolation (moto + DynamoDB Local)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError
from pynamodb.exceptions import PutError

from tests.support.faulty_table import faulty_table
from tests.support.settings import DYNAMODB_BACKENDS, settings_for_backend
from todo_assistant.tasks.models import (
    Priority,
    StatusFilter,
    Task,
    TaskCreate,
    TaskPatch,
    TaskStatus,
)
from todo_assistant.tasks.repository import DynamoTaskRepository
from todo_assistant.tasks.service import (
    AmbiguousTaskReference,
    NoTaskMatches,
    TaskNotFound,
    TaskService,
)
from todo_assistant.wiring.shared import build_task_service
from todo_assistant_dev.memory_tasks import MemoryTaskRepository


@pytest.fixture(params=["memory", *DYNAMODB_BACKENDS])
def tasks(request: pytest.FixtureRequest) -> TaskService:
    if request.param == "memory":
        return TaskService(MemoryTaskRepository())
    return build_task_service(settings_for_backend(request, request.param))


async def add(tasks: TaskService, user: str, title: str, **fields) -> int:
    return (await tasks.add(user, TaskCreate(title=title, **fields))).number


async def test_numbers_are_per_user_sequential_and_never_reused(tasks, user_id):
    assert [await add(tasks, user_id, t) for t in ("a", "b", "c")] == [1, 2, 3]
    await tasks.delete(user_id, 3)
    assert await add(tasks, user_id, "d") == 4
    assert await add(tasks, f"{user_id}-2", "first of another user") == 1


async def test_concurrent_adds_get_distinct_numbers(tasks, user_id):
    created = await asyncio.gather(
        *(tasks.add(user_id, TaskCreate(title=f"t{i}")) for i in range(8))
    )
    assert sorted(t.number for t in created) == list(range(1, 9))
    assert len(await tasks.list(user_id)) == 8


async def test_fields_round_trip_and_update(tasks, user_id):
    task = await tasks.add(
        user_id,
        TaskCreate(
            title="  File taxes ",
            description="forms",
            priority=Priority.HIGH,
            due_date=date(2026, 12, 1),
        ),
    )
    assert task.title == "File taxes" and task.status is TaskStatus.PENDING
    stored = await tasks.get(user_id, task.number)
    assert stored == task

    done = await tasks.complete(user_id, task.number)
    assert done.status is TaskStatus.COMPLETED and done.completed_at is not None
    assert done.updated_at >= task.updated_at

    reopened = await tasks.update(
        user_id, task.number, TaskPatch(status=TaskStatus.PENDING, description=None, title="Taxes")
    )
    assert reopened.status is TaskStatus.PENDING and reopened.completed_at is None
    assert reopened.description is None and reopened.title == "Taxes"
    assert reopened.priority is Priority.HIGH and reopened.due_date == date(2026, 12, 1)
    assert await tasks.get(user_id, task.number) == reopened


async def test_list_filters_by_status_and_text(tasks, user_id):
    await add(tasks, user_id, "Buy groceries", description="milk and eggs")
    await add(tasks, user_id, "Call mom")
    await add(tasks, user_id, "Buy a gift")
    await tasks.complete(user_id, 2)
    titles = lambda ts: [t.title for t in ts]  # noqa: E731
    assert titles(await tasks.list(user_id)) == ["Buy groceries", "Call mom", "Buy a gift"]
    assert titles(await tasks.list(user_id, StatusFilter.PENDING)) == [
        "Buy groceries",
        "Buy a gift",
    ]
    assert titles(await tasks.list(user_id, StatusFilter.COMPLETED)) == ["Call mom"]
    assert titles(await tasks.list(user_id, text="MILK")) == ["Buy groceries"]
    assert titles(await tasks.list(user_id, StatusFilter.PENDING, "buy")) == [
        "Buy groceries",
        "Buy a gift",
    ]


async def test_missing_and_foreign_tasks_are_not_found(tasks, user_id):
    await add(tasks, user_id, "mine")
    stranger = f"{user_id}-stranger"
    for call in (
        tasks.get(stranger, 1),
        tasks.complete(stranger, 1),
        tasks.update(stranger, 1, TaskPatch(title="hijacked")),
        tasks.delete(stranger, 1),
        tasks.get(user_id, 99),
    ):
        with pytest.raises(TaskNotFound):
            await call
    # Nothing the stranger tried changed the task or created one for them.
    assert (await tasks.get(user_id, 1)).title == "mine"
    assert await tasks.list(stranger) == []


async def test_resolve_by_number_and_by_title(tasks, user_id):
    await add(tasks, user_id, "Buy groceries")
    await add(tasks, user_id, "Prepare team meeting")
    await add(tasks, user_id, "Meeting notes for Friday")
    await add(tasks, user_id, "Call the dentist")
    assert (await tasks.resolve(user_id, "task 2")).number == 2
    assert (await tasks.resolve(user_id, "#4")).number == 4
    assert (await tasks.resolve(user_id, "the groceries task")).number == 1
    assert (await tasks.resolve(user_id, "dentist")).number == 4
    assert (await tasks.resolve(user_id, "grocries")).number == 1  # a typo still finds it
    with pytest.raises(AmbiguousTaskReference) as ambiguous:
        await tasks.resolve(user_id, "the meeting task")
    assert {t.number for t in ambiguous.value.candidates} == {2, 3}
    with pytest.raises(NoTaskMatches):
        await tasks.resolve(user_id, "the gym task")
    with pytest.raises(TaskNotFound):
        await tasks.resolve(user_id, "task 42")


def test_invalid_input_is_refused_before_storage():
    with pytest.raises(ValidationError):
        TaskCreate(title="   ")
    with pytest.raises(ValidationError):
        TaskCreate(title="x" * 201)
    with pytest.raises(ValidationError):
        TaskCreate(title="ok", priority="critical")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TaskPatch.model_validate({"owner": "someone-else"})


@pytest.mark.parametrize("backend", DYNAMODB_BACKENDS)
async def test_an_add_whose_answer_was_lost_is_stored_once(request, backend, user_id):
    """The task write is applied but its answer never arrives; the client's retry of it finds
    the row already there (its own) and the add succeeds: one task, not an error."""
    direct = settings_for_backend(request, backend)
    with faulty_table(direct, retries=1) as (proxy, settings):
        tasks = build_task_service(settings)
        proxy.fail_next("PutItem", "drop:after")
        task = await tasks.add(user_id, TaskCreate(title="Water the plants"))
        assert proxy.counts.faults == {"drop:after": 1}
        # A counter update whose request never arrived is simply sent again.
        proxy.fail_next("UpdateItem", "drop:before")
        second = await tasks.add(user_id, TaskCreate(title="Buy milk"))
    stored = await build_task_service(direct).list(user_id)
    assert [(t.number, t.title) for t in stored] == [(1, "Water the plants"), (2, "Buy milk")]
    assert (task.number, second.number) == (1, 2)


@pytest.mark.parametrize("backend", DYNAMODB_BACKENDS)
async def test_a_clash_with_another_write_is_still_an_error(request, backend, user_id):
    build_task_service(settings_for_backend(request, backend))
    repository = DynamoTaskRepository()
    number = repository.next_number(user_id)
    now = datetime.now(UTC)
    repository.insert(user_id, Task(number=number, title="first", created_at=now, updated_at=now))
    later = datetime.now(UTC)
    with pytest.raises(PutError):
        repository.insert(
            user_id, Task(number=number, title="second", created_at=later, updated_at=later)
        )
