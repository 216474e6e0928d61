"""SnapStart hooks in-process: what before-checkpoint warms, what after-restore renews."""

from __future__ import annotations

import gc
import importlib
import random
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.lambda_functions import fake_runtime_module
from todo_assistant import first_use
from todo_assistant.config import Settings
from todo_assistant.db.table import ROW_CLASSES, TableRow
from todo_assistant.web import snapstart
from todo_assistant.wiring.shared import bind_table

SETTINGS = Settings(
    table_name="todo-snapstart-test",
    dynamodb_endpoint="http://127.0.0.1:9",
    token_signing_key="dev-insecure-snapstart-test-key-0123456789",  # type: ignore[arg-type]
)


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    # before_checkpoint freezes the GC generations, as it should once in a process; undo it.
    yield
    gc.unfreeze()


@pytest.fixture
def no_first_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing registered by the apps other tests built in this process."""
    monkeypatch.setattr(first_use, "_registered", [])


def test_warm_modules_exist_in_the_pinned_dependencies() -> None:
    for name in snapstart.WARM_MODULES:
        importlib.import_module(name)


@pytest.mark.usefixtures("no_first_uses")
def test_before_checkpoint_warms_only_what_the_function_already_uses() -> None:
    assert "json" in sys.modules and "no_such_package" not in sys.modules
    warmed = snapstart.before_checkpoint(
        ["json.decoder", "json.no_such_module", "no_such_package.module"]
    )
    assert warmed == ["json.decoder"]
    assert "no_such_package" not in sys.modules
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("no_first_uses")
def test_before_checkpoint_builds_what_was_deferred_to_first_use() -> None:
    built: list[str] = []

    def client() -> str:
        built.append("client")
        return "an S3 client"

    def service() -> dict[str, Any]:
        built.append("service")
        # Built on first use itself: defers its own client, registered during the warm-up.
        return {"client": first_use.on_first_use(client)}

    def template() -> None:
        built.append("template")

    def broken() -> None:
        raise RuntimeError("a build that fails must not cost the snapshot")

    services = first_use.on_first_use(service)
    first_use.before_snapshot(template)
    first_use.before_snapshot(template)  # registered once
    first_use.before_snapshot(broken)

    warmed = snapstart.before_checkpoint([])

    assert built == ["service", "template", "client"]
    # The failed one is logged and left out.
    assert [name.rpartition(".")[2] for name in warmed] == ["service", "template", "client"]
    # Built once: first use after the snapshot finds it done.
    assert services()["client"]() == "an S3 client"
    assert built == ["service", "template", "client"]


@pytest.mark.usefixtures("no_first_uses")
def test_first_use_builds_once_across_threads_and_registers_weakly() -> None:
    calls: list[int] = []
    barrier = threading.Barrier(8)

    def slow() -> object:
        calls.append(1)
        time.sleep(0.05)
        return object()

    def use(build: first_use.OnFirstUse[object]) -> object:
        barrier.wait()
        return build()

    shared = first_use.on_first_use(slow)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(use, [shared] * 8))
    assert len(calls) == 1 and all(result is results[0] for result in results)

    # A first use lives as long as its owner: a dropped app's builds are not built for nothing.
    assert first_use.registered() == [shared]
    del shared
    gc.collect()
    assert first_use.registered() == []


def test_after_restore_gives_each_restored_copy_its_own_random_state() -> None:
    snapshot = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot)  # what every environment restored from one snapshot holds
        snapstart.after_restore()
        draws.append(random.getrandbits(64))
    assert draws[0] != draws[1]


def test_after_restore_drops_connections_sessions_and_cached_secrets() -> None:
    bind_table(SETTINGS)
    connections = [cls._get_connection() for cls in ROW_CLASSES]  # no network until a call
    assert all(connections)
    boto3.setup_default_session(region_name="us-east-1")
    parameters.base.DEFAULT_PROVIDERS["secrets"] = object()

    snapstart.after_restore()

    # Fresh connection objects (their botocore clients are created on the next call), one
    # shared by every row class; none of the pre-snapshot ones survive.
    fresh = {id(cls._connection) for cls in ROW_CLASSES}
    assert len(fresh) == 1
    assert fresh.isdisjoint(id(c) for c in connections)
    assert boto3.DEFAULT_SESSION is None
    assert parameters.base.DEFAULT_PROVIDERS == {}
    assert TableRow.Meta.table_name == SETTINGS.table_name


def test_adapter_routes_exist_only_when_the_environment_names_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = FastAPI()
    assert snapstart.install_adapter_routes(plain) == []
    assert TestClient(plain).post("/_snapstart/after-restore").status_code == 404

    monkeypatch.setenv(snapstart.BEFORE_CHECKPOINT_ENV, "/_snapstart/before-checkpoint")
    monkeypatch.setenv(snapstart.AFTER_RESTORE_ENV, "/_snapstart/after-restore")
    app = FastAPI()
    assert snapstart.install_adapter_routes(app) == [
        "/_snapstart/before-checkpoint",
        "/_snapstart/after-restore",
    ]
    client = TestClient(app)
    # The adapter sends an empty POST and needs a 2xx.
    reply = client.post("/_snapstart/before-checkpoint")
    assert reply.status_code == 200 and "warmed" in reply.json()
    bind_table(SETTINGS)
    before = TableRow._get_connection()
    reply = client.post("/_snapstart/after-restore")
    assert (reply.status_code, reply.json()) == (200, {"status": "restored"})
    assert TableRow._connection is not before
    assert client.get("/_snapstart/after-restore").status_code == 405


def test_runtime_hooks_register_with_snapshot_restore_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "snapshot_restore_py", raising=False)
    assert snapstart.register_runtime_hooks() is False  # outside Lambda: nothing to do

    runtime = fake_runtime_module()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert snapstart.register_runtime_hooks() is True
    [(before, before_args, _)] = runtime.before  # type: ignore[attr-defined]
    [(after, after_args, _)] = runtime.after  # type: ignore[attr-defined]
    assert before is snapstart.before_checkpoint and after is snapstart.after_restore

    # What the runtime does around the snapshot: call them with what they were registered with.
    assert isinstance(before(*before_args), list)
    bind_table(SETTINGS)
    before = TableRow._get_connection()
    after(*after_args)
    assert TableRow._connection is not before
