"""scripts/prune_versions.py: old published versions go, alias targets and the newest stay
(on moto's Lambda, which lists and deletes versions without Docker)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import uuid
import zipfile
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.support.paths import ROOT


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "prune_versions", ROOT / "scripts" / "prune_versions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


prune = load_script()


@pytest.mark.parametrize(
    ("versions", "protected", "keep", "expected"),
    [
        (["$LATEST", "1", "2", "3", "4", "5"], ["5"], 3, ["1", "2"]),
        (["$LATEST", "1", "2", "3", "4", "5"], ["2"], 2, ["1", "3"]),
        (["$LATEST", "1", "2", "3"], ["1", "3"], 0, ["2"]),
        (["$LATEST", "9", "10", "11"], [], 2, ["9"]),  # numeric order, not text order
        (["$LATEST"], [], 3, []),
        (["$LATEST", "1"], ["$LATEST"], 0, ["1"]),
        (["1", "2"], [], 5, []),
    ],
)
def test_which_versions_go(versions, protected, keep, expected):
    assert prune.versions_to_delete(versions, protected, keep) == expected


def test_keep_must_not_be_negative():
    with pytest.raises(ValueError, match="keep"):
        prune.versions_to_delete(["1"], [], -1)


@pytest.fixture
def lambda_client(moto_endpoint: str) -> Any:
    return boto3.client("lambda", endpoint_url=moto_endpoint, region_name="us-east-1")


def published_function(moto_endpoint: str, client: Any, versions: int) -> str:
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"prune-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]

    def package(marker: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", f"def handler(event, context):\n    return {marker}\n")
        return buffer.getvalue()

    client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": package(0)},
    )
    for marker in range(1, versions + 1):
        client.update_function_code(FunctionName=name, ZipFile=package(marker))
        client.publish_version(FunctionName=name)
    return name


def remaining(client: Any, name: str) -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]


def test_prunes_all_but_alias_targets_and_the_newest(moto_endpoint, lambda_client):
    name = published_function(moto_endpoint, lambda_client, versions=6)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="4")
    lambda_client.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="5",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    assert prune.alias_targets(lambda_client, name) == ["2", "4", "5"]

    dry = prune.prune_function(lambda_client, name, keep=1, delete=False)
    assert dry.deleted == ["1", "3"]
    assert remaining(lambda_client, name) == ["$LATEST", "1", "2", "3", "4", "5", "6"]

    done = prune.prune_function(lambda_client, name, keep=1, delete=True)
    assert done.deleted == ["1", "3"]
    assert remaining(lambda_client, name) == ["$LATEST", "2", "4", "5", "6"]
    # The alias still points where it did; running again deletes nothing more.
    live = lambda_client.get_alias(FunctionName=name, Name="live")
    assert live["FunctionVersion"] == "4"
    assert prune.prune_function(lambda_client, name, keep=1, delete=True).deleted == []


def test_command_line_dry_run_then_delete(moto_endpoint, lambda_client, capsys):
    name = published_function(moto_endpoint, lambda_client, versions=5)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="5")
    common = ["--function", name, "--keep", "2", "--endpoint-url", moto_endpoint]
    common += ["--region", "us-east-1"]
    assert prune.main(common) == 0
    out = capsys.readouterr().out
    assert f"{name}: alias targets 5; kept 4, 5; would delete 1, 2, 3" in out
    assert "would delete 1, 2, 3" in out and "dry run" in out
    assert remaining(lambda_client, name) == ["$LATEST", "1", "2", "3", "4", "5"]

    assert prune.main([*common, "--delete"]) == 0
    assert "deleted 1, 2, 3" in capsys.readouterr().out
    assert remaining(lambda_client, name) == ["$LATEST", "4", "5"]
