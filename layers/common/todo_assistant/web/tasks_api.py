"""REST API for a dashboard's task panel: GET/POST /tasks, GET/PATCH/DELETE /tasks/{number}."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from todo_assistant.context import RequestContext
from todo_assistant.tasks.models import StatusFilter, Task, TaskCreate, TaskPatch
from todo_assistant.tasks.repository import TaskNotFound
from todo_assistant.tasks.search import rank_tasks
from todo_assistant.tasks.service import TaskService
from todo_assistant.web.errors import ApiError


def build_tasks_router(
    tasks: TaskService,
    current_user: Callable[[Request], RequestContext | Awaitable[RequestContext]],
) -> APIRouter:
    router = APIRouter(prefix="/tasks")
    # A default rather than an Annotated alias: the alias would be local to this function,
    # where FastAPI cannot resolve postponed annotations.
    signed_in = Depends(current_user)

    @contextmanager
    def found(number: int) -> Iterator[None]:
        """The one place a missing task (or another user's: the same to us) becomes a 404."""
        try:
            yield
        except TaskNotFound:
            raise ApiError(404, "not_found", f"Task {number} not found.") from None

    @router.get("")
    async def list_tasks(
        status: StatusFilter = StatusFilter.ALL,
        q: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int | None, Query(ge=1, le=100)] = None,
        user: RequestContext = signed_in,
    ) -> dict[str, list[Task]]:
        # One Query of the user's tasks; with `q`, best matches first (`@`-mention search).
        found = await tasks.list(user.user_id, status)
        return {"tasks": rank_tasks(found, q or "", limit)}

    @router.post("", status_code=201)
    async def create_task(data: TaskCreate, user: RequestContext = signed_in) -> Task:
        return await tasks.add(user.user_id, data)

    @router.get("/{number}")
    async def get_task(number: int, user: RequestContext = signed_in) -> Task:
        with found(number):
            return await tasks.get(user.user_id, number)

    @router.patch("/{number}")
    async def update_task(number: int, patch: TaskPatch, user: RequestContext = signed_in) -> Task:
        with found(number):
            return await tasks.update(user.user_id, number, patch)

    @router.delete("/{number}", status_code=204)
    async def delete_task(number: int, user: RequestContext = signed_in) -> Response:
        with found(number):
            await tasks.delete(user.user_id, number)
        return Response(status_code=204)

    return router
