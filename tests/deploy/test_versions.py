"""A deploy that changes only the layer publishes new function versions.

All code lives in the layer. With `AutoPublishAlias` alone, SAM names the function version
after the function's code only, so a layer-only change keeps the old version and the `live`
alias behind each function URL keeps serving the old code. `AutoPublishAliasAllProperties`
makes the version follow every property, the layer reference included.

The template is transformed twice, offline, with SAM's own translator (the SAM CLI's
samtranslator, as `sam deploy` would), the two runs differing only in the layer's package.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.cfn import ROOT, load_template

FUNCTIONS = ("ChatKitFunction", "SessionFunction")
PARAMETERS = {
    "OidcIssuer": "https://idp.example.test/",
    "OidcAudience": "todo-web",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "todo-assistant-test",
}


def sam_python() -> Path:
    """The SAM CLI's interpreter (scripts/package.py installs it into .cache/sam-cli)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import package  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    sam = package.sam_cli(package.python_for_runtime())
    return Path(sam).with_name("python")


def packaged(template: dict[str, Any], layer_key: str) -> dict[str, Any]:
    """The template as `sam package` leaves it: every local path replaced by an S3 object."""
    result = copy.deepcopy(template)
    resources = result["Resources"]
    resources["CommonLayer"]["Properties"]["ContentUri"] = f"s3://artifacts/{layer_key}"
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://artifacts/{name}.zip"
        elif resource["Type"] == "AWS::Serverless::Application":
            resource["Properties"]["Location"] = (
                f"https://artifacts.s3.amazonaws.com/{name.lower()}.template"
            )
    return result


def transform(template: dict[str, Any], python: Path) -> dict[str, Any]:
    request = json.dumps({"template": template, "parameters": PARAMETERS})
    # The SAM CLI's interpreter running our own script.
    result = subprocess.run(
        [str(python), str(ROOT / "tests" / "deploy" / "sam_transform.py")],
        input=request,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output: dict[str, Any] = json.loads(result.stdout)
    return output


def versions(transformed: dict[str, Any]) -> dict[str, str]:
    """Function logical id -> the logical id of the version its `live` alias points at."""
    resources = transformed["Resources"]
    found: dict[str, str] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Alias":
            continue
        function = resource["Properties"]["FunctionName"]["Ref"]
        version = resource["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        assert resources[version]["Type"] == "AWS::Lambda::Version"
        assert resource["Properties"]["Name"] == "live"
        found[function] = version
    return found


@pytest.fixture(scope="module")
def python() -> Path:
    return sam_python()


def test_a_layer_only_change_publishes_new_versions(python):
    template = load_template()
    before = versions(transform(packaged(template, "layer-aaaa.zip"), python))
    after = versions(transform(packaged(template, "layer-bbbb.zip"), python))
    assert set(before) == set(after) == set(FUNCTIONS)
    for name in FUNCTIONS:
        assert before[name] != after[name], f"{name}: same version after a layer change"


def test_an_unchanged_deploy_keeps_the_versions(python):
    # The ids are stable: redeploying the same artifacts publishes nothing new.
    template = load_template()
    first = versions(transform(packaged(template, "layer-aaaa.zip"), python))
    again = versions(transform(packaged(template, "layer-aaaa.zip"), python))
    assert first == again


def test_without_the_setting_a_layer_change_would_go_unpublished(python):
    # The defect this guards against, shown on the same template minus the setting.
    template = load_template()
    for name in FUNCTIONS:
        del template["Resources"][name]["Properties"]["AutoPublishAliasAllProperties"]
    before = versions(transform(packaged(template, "layer-aaaa.zip"), python))
    after = versions(transform(packaged(template, "layer-bbbb.zip"), python))
    assert before == after
