"""`sam local invoke` with samconfig.toml's local_invoke settings, minus Docker.

Target=sam-local; the variables are what SAM CLI passes (unresolvable intrinsics blanked) with
events/env.json over those the template declares; client secrets come from mint_secret. The
moto server stands in for DynamoDB Local on the host.
"""

from __future__ import annotations

import json
import shlex
import tomllib
import uuid
from collections.abc import Iterator

import pytest

from tests.deploy.cfn import ROOT, Resolver, default_refs, load_template, sam_local_environment
from tests.support.lambda_functions import EVENTS, Function, assert_turn, import_function
from todo_assistant.config import get_settings
from todo_assistant.db.table import create_table_if_missing
from todo_assistant.wiring.shared import bind_table
from todo_assistant_dev.mint_secret import main as mint_main
from todo_assistant_dev.mint_secret import mint
from todo_assistant_dev.stack import embedded_moto


def local_invoke_overrides() -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    section = config["default"]["local_invoke"]["parameters"]
    return dict(item.split("=", 1) for item in shlex.split(section["parameter_overrides"]))


@pytest.fixture
def dynamodb_on_the_host() -> Iterator[str]:
    with embedded_moto() as endpoint:
        try:
            yield endpoint
        finally:
            get_settings.cache_clear()


def sam_local_function(
    logical_id: str, directory: str, endpoint: str, table: str, env: pytest.MonkeyPatch
) -> Function:
    template = load_template()
    overrides = local_invoke_overrides()
    assert (
        Resolver(template, overrides, default_refs()).function_properties(logical_id)["Handler"]
        == "app.handler"
    )
    env_vars = json.loads((EVENTS / "env.json").read_text())
    variables = sam_local_environment(template, logical_id, overrides, env_vars)
    # The container would reach DynamoDB Local at host.docker.internal.
    assert variables["DYNAMODB_ENDPOINT"].startswith("http://host.docker.internal:")
    variables.update(DYNAMODB_ENDPOINT=endpoint, TABLE_NAME=table)
    variables["AWS_LAMBDA_FUNCTION_NAME"] = logical_id  # as sam local sets it
    for name, value in variables.items():
        env.setenv(name, value)
    get_settings.cache_clear()
    bind_table(get_settings())
    create_table_if_missing()
    return Function(import_function(directory), set())


def test_sam_local_runs_both_functions_with_env_json(dynamodb_on_the_host: str) -> None:
    table = f"todo-sam-local-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
        for name in ("TOKEN_SIGNING_KEY_SECRET_ID", "LARGE_ITEM_BUCKET", "S3_ENDPOINT"):
            env.delenv(name, raising=False)
        env.setenv(
            "TOKEN_SIGNING_KEY",
            json.loads((EVENTS / "env.json").read_text())["Parameters"]["TOKEN_SIGNING_KEY"],
        )
        get_settings.cache_clear()
        secret = mint(get_settings(), "alice").client_secret  # on the host, outside Lambda

        chatkit = sam_local_function("ChatKitFunction", "chatkit", dynamodb_on_the_host, table, env)
        reply = chatkit.invoke("threads-create", client_secret=secret)
        assert reply.status == 200, reply.body
        assert_turn(reply.sse(), creates_thread=True)
        assert chatkit.invoke("threads-list", client_secret=secret).json()["data"]

        session = sam_local_function("SessionFunction", "session", dynamodb_on_the_host, table, env)
        tasks = session.invoke("tasks-list", client_secret=secret)
        assert (tasks.status, [t["title"] for t in tasks.json()["tasks"]]) == (200, ["Buy milk"])


def test_mint_secret_fills_an_event_for_sam_local(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--user", "alice", "--env-vars", str(EVENTS / "env.json")]
    assert mint_main([*args, "--event", str(EVENTS / "chatkit/items-list.json")]) == 2
    assert "thread_id" in capsys.readouterr().err

    event_args = ["--event", str(EVENTS / "chatkit/items-list.json"), "--set", "thread_id=thr_1"]
    assert mint_main([*args, *event_args]) == 0
    event = json.loads(capsys.readouterr().out)
    assert event["headers"]["authorization"].startswith("Bearer eyJ")
    assert json.loads(event["body"])["params"]["thread_id"] == "thr_1"


def test_mint_secret_refuses_real_keys_and_lambda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("TOKEN_SIGNING_KEY", "TOKEN_SIGNING_KEY_SECRET_ID", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert mint_main(["--user", "alice"]) == 2
    assert "not set" in capsys.readouterr().err

    monkeypatch.setenv("TOKEN_SIGNING_KEY", "a-real-production-key-0123456789abcdefghij")
    assert mint_main(["--user", "alice"]) == 2
    assert "not a development key" in capsys.readouterr().err

    monkeypatch.setenv("TOKEN_SIGNING_KEY", "dev-insecure-but-from-secrets-manager-0123456789")
    monkeypatch.setenv("TOKEN_SIGNING_KEY_SECRET_ID", "arn:aws:secretsmanager:us-east-1:1:secret:k")
    assert mint_main(["--user", "alice"]) == 2
    assert "real one" in capsys.readouterr().err

    monkeypatch.delenv("TOKEN_SIGNING_KEY_SECRET_ID")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todo-assistant-session")
    assert mint_main(["--user", "alice"]) == 2
    assert "inside AWS Lambda" in capsys.readouterr().err

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert mint_main(["--user", "alice"]) == 0
    assert capsys.readouterr().out.startswith("eyJ")
