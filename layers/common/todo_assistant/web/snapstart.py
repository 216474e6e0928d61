"""Lambda SnapStart hooks: warm up before the snapshot, refresh what must not be shared after.

Lambda initialises a published version once, snapshots the process and resumes every new
execution environment from that snapshot. Two ways in, one pair of functions:

- uvicorn under the Lambda Web Adapter (the chatkit function): the Python runtime client never
  runs, so `snapshot_restore_py` hooks never fire. The adapter POSTs instead to the paths named
  by AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH / AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH; the
  adapter answers 403 to outside callers of those paths. `install_adapter_routes` adds them.
- the managed runtime (the session function, or chatkit under Mangum): `register_runtime_hooks`
  registers the same functions with `snapshot_restore_py`, which only that runtime provides.
"""

from __future__ import annotations

import gc
import importlib
import os
import random
import sys
from collections.abc import Iterable

import boto3
from fastapi import FastAPI

from todo_assistant import first_use
from todo_assistant.db.table import reconnect_table
from todo_assistant.observability import logger

BEFORE_CHECKPOINT_ENV = "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"
AFTER_RESTORE_ENV = "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"

# Modules the first request imports lazily (measured with a diff of sys.modules around it):
# the OpenAI Responses resource (~125 ms) and anyio's asyncio backend (threadpool calls).
WARM_MODULES: tuple[str, ...] = (
    "anyio._backends._asyncio",
    "openai.resources.responses",
    "openai.lib.streaming.responses",
)


def before_checkpoint(modules: Iterable[str] = WARM_MODULES) -> list[str]:
    """Load into memory what the first request would otherwise pay for; call AWS for nothing.

    A module is warmed only when its top-level package is already loaded, so the session
    function (which never imports `openai`) stays as it is. Then everything the app's parts
    defer to their first use (first_use.py: optional imports, templates, clients) is built,
    as it would have been at init.
    """
    warmed: list[str] = []
    for name in modules:
        if name.partition(".")[0] not in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            # A dependency renamed a private module: lose the warm-up, never the snapshot.
            logger.warning("snapstart warm-up skipped a module", extra={"warm_module": name})
            continue
        warmed.append(name)
    # A build may register more (a service built on first use that defers a part of its
    # own): those are built too.
    done: dict[int, first_use.Build] = {}  # held, so no id is reused meanwhile
    while pending := [build for build in first_use.registered() if id(build) not in done]:
        for build in pending:
            done[id(build)] = build
            try:
                build()
            except Exception:
                logger.warning(
                    "snapstart warm-up skipped a build",
                    extra={"warm_build": first_use.describe(build)},
                    exc_info=True,
                )
                continue
            warmed.append(first_use.describe(build))
    # Everything alive now lives as long as the process: keep it out of later GC passes.
    gc.collect()
    gc.freeze()
    logger.info("snapstart before checkpoint", extra={"warmed": warmed})
    return warmed


def after_restore() -> None:
    """Make every restored copy of the snapshot its own process again (no AWS calls here).

    - `random`'s state is in the snapshot: without a re-seed every copy draws the same numbers
      (ids use os.urandom, which the kernel re-seeds).
    - Sockets opened before the snapshot are dead after it: drop pynamodb's connections and the
      boto3 default session, so clients reconnect and resolve credentials afresh.
    - Powertools' cached secret values and its Secrets Manager client go too, so the signing
      keys (re-read through that cache on use) are fetched afresh by the first request.
    """
    random.seed()
    reconnect_table()
    boto3.DEFAULT_SESSION = None
    # Only if a secret was read at init: importing Powertools' parameters just to clear it
    # would cost time on every restore.
    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:
        parameters.clear_caches()
    logger.info("snapstart after restore")


def install_adapter_routes(app: FastAPI) -> list[str]:
    """Add the Web Adapter's SnapStart routes when the environment names them (else none).

    Without the adapter in front nothing guards these paths, so they exist only when asked for
    (template.yaml sets the variables for the chatkit function).
    """
    paths: list[str] = []
    before_path = os.environ.get(BEFORE_CHECKPOINT_ENV)
    after_path = os.environ.get(AFTER_RESTORE_ENV)

    if before_path:

        async def before_checkpoint_route() -> dict[str, list[str]]:
            return {"warmed": before_checkpoint()}

        app.add_api_route(
            before_path, before_checkpoint_route, methods=["POST"], include_in_schema=False
        )
        paths.append(before_path)

    if after_path:

        async def after_restore_route() -> dict[str, str]:
            after_restore()
            return {"status": "restored"}

        app.add_api_route(
            after_path, after_restore_route, methods=["POST"], include_in_schema=False
        )
        paths.append(after_path)
    return paths


def register_runtime_hooks() -> bool:
    """Register the hooks with the managed runtime; False where it is absent (tests, uvicorn)."""
    try:
        hooks = importlib.import_module("snapshot_restore_py")
    except ModuleNotFoundError:
        return False
    hooks.register_before_snapshot(before_checkpoint)
    hooks.register_after_restore(after_restore)
    return True
