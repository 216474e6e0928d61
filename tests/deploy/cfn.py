"""Read template.yaml the way CloudFormation would for one set of parameters.

A small resolver for the intrinsics the template uses (Ref, Fn::If, Fn::Sub, Fn::GetAtt and
the condition functions), so tests see the environment, policies and properties a deployed
function gets, with their own values standing in for resource names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "todo-assistant-test",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!]+)\}")


def load_template() -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(TEMPLATE_PATH))
    return template


@dataclass
class Resolver:
    """`refs` maps a logical id to what Ref returns, and "Id.Attr" to what GetAtt returns."""

    template: dict[str, Any]
    overrides: Mapping[str, str] = field(default_factory=dict)
    refs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parameters: dict[str, Any] = {}
        for name, spec in self.template.get("Parameters", {}).items():
            value = self.overrides.get(name, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList":
                value = [part.strip() for part in str(value).split(",")]
            elif value is not None:
                value = str(value)
            self.parameters[name] = value
        self.conditions = {
            name: self._condition(body)
            for name, body in self.template.get("Conditions", {}).items()
        }

    # -- conditions -----------------------------------------------------------------------
    def _condition(self, node: Any) -> bool:
        (key, value), *_ = node.items()
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return bool(left == right)
        if key == "Fn::Not":
            return not self._condition(value[0])
        if key == "Fn::And":
            return all(self._condition(v) for v in value)
        if key == "Fn::Or":
            return any(self._condition(v) for v in value)
        if key == "Condition":
            return self._condition(self.template["Conditions"][value])
        raise ValueError(f"unsupported condition {key}")

    # -- values ---------------------------------------------------------------------------
    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"no value for Ref {name}")

    def _sub(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            value = self.refs[name] if "." in name else self._ref(name)
            return str(value)

        return _SUB.sub(one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (key, value), *_ = node.items()
                if key == "Ref":
                    return self._ref(value)
                if key == "Fn::If":
                    name, when_true, when_false = value
                    return self.resolve(when_true if self.conditions[name] else when_false)
                if key == "Fn::Sub":
                    if isinstance(value, str):
                        return self._sub(value)
                    text, variables = value
                    local = {name: str(self.resolve(v)) for name, v in variables.items()}
                    return _SUB.sub(lambda m: local.get(m.group(1)) or self._sub(m.group(0)), text)
                if key == "Fn::Select":
                    index, items = value
                    return self.resolve(items)[int(index)]
                if key == "Fn::Join":
                    separator, items = value
                    return separator.join(str(item) for item in self.resolve(items))
                if key == "Fn::Split":
                    separator, text = value
                    return str(self.resolve(text)).split(separator)
                if key == "Fn::GetAtt":
                    target = value if isinstance(value, str) else ".".join(value)
                    return self.refs[target]
            resolved = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not _NO_VALUE]
        return node

    # -- shortcuts ------------------------------------------------------------------------
    def resource(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.template["Resources"][logical_id])
        return resolved

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """The function's properties with SAM's Globals merged in (Environment merged by key)."""
        merged = dict(self.resolve(self.template.get("Globals", {}).get("Function", {})))
        own = self.resource(logical_id)["Properties"]
        global_env = merged.pop("Environment", {}).get("Variables", {})
        merged.update(own)
        merged["Environment"] = {
            "Variables": {**global_env, **own.get("Environment", {}).get("Variables", {})}
        }
        return merged

    def function_environment(self, logical_id: str) -> dict[str, str]:
        variables = self.function_properties(logical_id)["Environment"]["Variables"]
        return {name: str(value) for name, value in variables.items()}

    def policy_statements(self, logical_id: str) -> list[dict[str, Any]]:
        statements: list[dict[str, Any]] = []
        for policy in self.function_properties(logical_id).get("Policies", []):
            assert isinstance(policy, dict), f"{logical_id}: only inline policy documents"
            statements.extend(policy["Statement"])
        return statements


def sam_local_environment(
    template: dict[str, Any],
    logical_id: str,
    overrides: Mapping[str, str],
    env_vars: Mapping[str, Any],
) -> dict[str, str]:
    """The variables `sam local invoke` gives a function (SAM CLI 1.170, as observed).

    It resolves Ref (a parameter to its value, a resource to its logical id) but leaves other
    intrinsics unresolved and passes those as "". An --env-vars file (`Parameters`, then the
    function's own section) overrides only variables the template declares.
    """
    resolver = Resolver(template, overrides)
    variables: dict[str, Any] = {}
    for source in (
        template.get("Globals", {}).get("Function", {}),
        template["Resources"][logical_id]["Properties"],
    ):
        variables.update(source.get("Environment", {}).get("Variables", {}))
    file_values = {**env_vars.get("Parameters", {}), **env_vars.get(logical_id, {})}
    result: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            target = value["Ref"]
            parameter = resolver.parameters.get(target)
            value = target if target in template["Resources"] else (parameter or "")
        elif isinstance(value, dict):
            value = ""
        result[name] = str(file_values.get(name, value))
    return result


def default_refs(
    table: str = "todo-assistant-test-table",
    bucket: str = "todo-assistant-test-bucket",
    secret_arn: str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf",
) -> dict[str, Any]:
    account = f"{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}"
    return {
        "Table": table,
        "Table.Arn": f"arn:aws:dynamodb:{account}:table/{table}",
        "LargeItemBucket": bucket,
        "LargeItemBucket.Arn": f"arn:aws:s3:::{bucket}",
        "TokenSigningKeySecret": secret_arn,
        "CommonLayer": f"arn:aws:lambda:{account}:layer:common:1",
        "ChatKitLogGroup": "/aws/lambda/todo-assistant-test-chatkit",
        "SessionLogGroup": "/aws/lambda/todo-assistant-test-session",
        "ThreadCleanupLogGroup": "/aws/lambda/todo-assistant-test-retention",
        "Table.StreamArn": f"arn:aws:dynamodb:{account}:table/{table}/stream/2026-01-01T00:00:00.000",
        "ChatKitFunctionUrl.FunctionUrl": "https://chatkit.lambda-url.us-east-1.on.aws/",
        "SessionFunctionUrl.FunctionUrl": "https://session.lambda-url.us-east-1.on.aws/",
        "Observability.Outputs.DashboardUrl": (
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
            "#dashboards/dashboard/todo-assistant-test"
        ),
        "Observability.Outputs.AlarmNotificationTopicArn": (
            f"arn:aws:sns:{account}:todo-assistant-test-AlarmTopic"
        ),
        # The optional front end hosting (HostFrontend=true).
        "Frontend.Outputs.Origin": "https://d111111abcdef8.cloudfront.net",
        "Frontend.Outputs.BucketName": "todo-assistant-test-site",
        "Frontend.Outputs.DistributionId": "E2EXAMPLE",
    }
