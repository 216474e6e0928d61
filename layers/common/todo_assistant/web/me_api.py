"""The caller's own data as a whole: GET /me/export and DELETE /me (lifecycle/).

Both act on the verified user's partition and S3 prefix only; there is no way to name
another user. They live on the session function: buffered JSON answers, no agent code.

They are rare, and nothing else in the session function uses S3 or lifecycle/, so their
services (and the S3 client, ~50 ms to create) are built by the first of these requests, or
before a SnapStart snapshot (first_use.py), not at init (wiring/session.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends

from todo_assistant.context import RequestContext
from todo_assistant.observability import logger
from todo_assistant.web.errors import ApiError

if TYPE_CHECKING:
    from todo_assistant.lifecycle.erase import UserEraser
    from todo_assistant.lifecycle.export import UserExporter


@dataclass
class MeServices:
    eraser: UserEraser
    # None without LARGE_ITEM_BUCKET: the export document is handed out through S3.
    exporter: UserExporter | None


def build_me_router(
    services: Callable[[], MeServices], current_user: Callable[..., Any]
) -> APIRouter:
    """The routes; `services` returns the services, built by its first call."""
    router = APIRouter(prefix="/me")
    signed_in = Depends(current_user)

    @router.get("/export")
    async def export_me(user: RequestContext = signed_in) -> dict[str, Any]:
        exporter = services().exporter
        if exporter is None:
            raise ApiError(503, "export_unavailable", "Exports need LARGE_ITEM_BUCKET.")
        link = await asyncio.to_thread(exporter.export, user.user_id)
        logger.info("export written", extra={"user_id": user.user_id, "bytes": link.bytes})
        return asdict(link)

    @router.delete("")
    async def erase_me(user: RequestContext = signed_in) -> dict[str, Any]:
        erased = await asyncio.to_thread(services().eraser.erase, user.user_id)
        logger.info("user erased", extra={"user_id": user.user_id, **asdict(erased)})
        return {"deleted": asdict(erased)}

    return router
