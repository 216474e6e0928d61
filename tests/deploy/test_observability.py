"""infra/observability.yaml: lint-clean, wired into template.yaml, and every alarm and graph
watches a metric that AWS or the app really emits, with the dimensions it is emitted with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest
from cfnlint.decode import cfn_yaml

from tests.deploy.cfn import ROOT, Resolver, default_refs, load_template
from tests.support.template import REQUIRED_PARAMETERS
from todo_assistant.metrics import RATE_LIMIT_SCOPES

INFRA_PATH = ROOT / "infra" / "observability.yaml"
METRICS_SOURCE = ROOT / "layers" / "common" / "todo_assistant" / "metrics.py"

AWS_METRICS = {
    "AWS/Lambda": {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"},
    "AWS/DynamoDB": {
        "ThrottledRequests",
        "SystemErrors",
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    },
}
NESTED_PARAMETERS = {
    "EnvironmentName": "prod",
    "DashboardName": "todo-assistant-prod",
    "ChatKitFunctionName": "todo-assistant-prod-ChatKitFunction-abc",
    "SessionFunctionName": "todo-assistant-prod-SessionFunction-def",
    "ChatKitLogGroupName": "/aws/lambda/todo-assistant-prod-chatkit",
    "SessionLogGroupName": "/aws/lambda/todo-assistant-prod-session",
    "ChatKitTimeoutSeconds": "120",
    "SessionTimeoutSeconds": "10",
    "TableName": "todo-assistant-prod-Table-xyz",
}


def load_infra() -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(INFRA_PATH))
    return template


TOPIC = "arn:aws:sns:us-east-1:123456789012:todo-assistant-prod-AlarmTopic-abc"


def infra(**overrides: str) -> Resolver:
    refs = {"AlarmTopic": TOPIC, "Dashboard": NESTED_PARAMETERS["DashboardName"]}
    return Resolver(load_infra(), {**NESTED_PARAMETERS, **overrides}, refs)


def app_metric_names() -> set[str]:
    """Every custom metric the app writes (todo_assistant/metrics.py names them all)."""
    return set(re.findall(r'\.(?:count|milliseconds)\("(\w+)"', METRICS_SOURCE.read_text()))


def service_names() -> dict[str, str]:
    resolver = Resolver(load_template(), REQUIRED_PARAMETERS, default_refs())
    return {
        logical_id: resolver.function_environment(logical_id)["POWERTOOLS_SERVICE_NAME"]
        for logical_id in ("ChatKitFunction", "SessionFunction")
    }


def test_cfn_lint_reports_nothing() -> None:
    config = cfnlint.api.ManualArgs(include_checks=["I"], regions=["us-east-1", "eu-west-1"])
    matches = cfnlint.api.lint_file(INFRA_PATH, config=config)
    assert matches == [], "\n".join(str(m) for m in matches)


def test_app_metric_names_are_found() -> None:
    assert {"Turns", "TurnErrors", "ToolCalls", "SessionsIssued", "SignInFailures"} <= (
        app_metric_names()
    )


def check_metric(namespace: str, name: str, dimensions: dict[str, str]) -> None:
    if namespace == "TodoAssistant":
        assert name in app_metric_names(), name
        services = set(service_names().values())
        extra = {"tool"} if name == "ToolCalls" and "tool" in dimensions else set()
        if name == "RateLimited":
            extra = {"scope"}
            assert dimensions["scope"] in RATE_LIMIT_SCOPES, dimensions
        expected = {"service", "environment"} | extra
        assert set(dimensions) == expected, (name, dimensions)
        assert dimensions["service"] in services, (name, dimensions)
        assert dimensions["environment"] == NESTED_PARAMETERS["EnvironmentName"]
    else:
        assert name in AWS_METRICS[namespace], (namespace, name)


def alarm_metrics(props: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    def dims(items: list[dict[str, str]]) -> dict[str, str]:
        return {d["Name"]: d["Value"] for d in items}

    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], dims(props.get("Dimensions", [])))]
    found = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append((metric["Namespace"], metric["MetricName"], dims(metric["Dimensions"])))
        elif query["Expression"].startswith("SELECT"):
            match = re.search(r'\((\w+)\) FROM SCHEMA\("([\w/]+)"', query["Expression"])
            assert match, query["Expression"]
            assert NESTED_PARAMETERS["TableName"] in query["Expression"]
            found.append((match.group(2), match.group(1), {}))
    return found


def test_every_alarm_watches_an_emitted_metric_and_notifies() -> None:
    template = load_infra()
    resolver = infra()
    alarms = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert len(alarms) >= 10
    watched: set[str] = set()
    for logical_id in alarms:
        props = resolver.resource(logical_id)["Properties"]
        metrics = alarm_metrics(props)
        assert metrics, logical_id
        for namespace, name, dimensions in metrics:
            check_metric(namespace, name, dimensions)
            watched.add(name)
        assert props["AlarmActions"] == props["OKActions"] == [TOPIC], logical_id
        assert props["TreatMissingData"] == "notBreaching"
    assert {"Errors", "Throttles", "Duration", "TurnErrors", "SignInFailures"} <= watched
    assert {"ThrottledRequests", "SystemErrors", "RateLimited"} <= watched


def test_alarms_use_a_given_topic_instead_of_creating_one() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:ops"
    resolver = infra(AlarmTopicArn=arn)
    assert resolver.conditions["CreateTopic"] is False
    assert resolver.resource("ChatKitErrorsAlarm")["Properties"]["AlarmActions"] == [arn]
    created = infra(AlarmEmail="ops@example.com")
    assert created.conditions["SubscribeEmail"] is True


def test_duration_alarms_compare_p99_with_the_timeout() -> None:
    props = infra().resource("ChatKitDurationAlarm")["Properties"]
    expression = next(m["Expression"] for m in props["Metrics"] if "Expression" in m)
    assert expression == "100 * p99 / (120 * 1000)" and props["Threshold"] == 80


def dashboard() -> dict[str, Any]:
    body = infra().resource("Dashboard")["Properties"]["DashboardBody"]
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_dashboard_is_json_and_graphs_emitted_metrics() -> None:
    widgets = dashboard()["widgets"]
    titles = {w["properties"]["title"] for w in widgets}
    assert {"Time to first event (ms)", "Tool calls by tool", "Requests by path and status"} <= (
        titles
    )
    graphed: set[str] = set()
    for widget in widgets:
        if widget["type"] != "metric":
            continue
        previous: list[Any] = []
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                assert row[0]["expression"].startswith("SEARCH(")
                continue
            values = [v for v in row if not isinstance(v, dict)]
            # The dashboard shorthands: "..." repeats the previous row, "." one of its fields.
            if values[:1] == ["..."]:
                values = previous[: len(previous) - len(values) + 1] + values[1:]
            values = [previous[i] if v == "." else v for i, v in enumerate(values)]
            namespace, name, *pairs = values
            check_metric(namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)))
            graphed.add(name)
            previous = values
    assert {"Invocations", "ConcurrentExecutions", "TimeToFirstEventMs", "Turns"} <= graphed
    assert {"ConsumedReadCapacityUnits", "SessionsIssued"} <= graphed


def test_log_widgets_query_the_function_log_groups() -> None:
    queries = [w["properties"]["query"] for w in dashboard()["widgets"] if w["type"] == "log"]
    assert queries
    for query in queries:
        assert f"SOURCE '{NESTED_PARAMETERS['ChatKitLogGroupName']}'" in query
        # Fields the access log middleware writes (todo_assistant/web/middleware.py).
        assert "message = 'request'" in query or "level = 'ERROR'" in query


def test_template_deploys_it_as_a_nested_application() -> None:
    template = load_template()
    app = template["Resources"]["Observability"]
    assert app["Type"] == "AWS::Serverless::Application"
    assert (ROOT / app["Properties"]["Location"]).resolve() == INFRA_PATH
    passed = set(app["Properties"]["Parameters"])
    nested = load_infra()["Parameters"]
    required = {name for name, spec in nested.items() if "Default" not in spec}
    assert required <= passed <= set(nested)
    functions = {"ChatKitFunction": "chatkit-fn", "SessionFunction": "session-fn"}
    resolver = Resolver(template, REQUIRED_PARAMETERS, {**default_refs(), **functions})
    parameters = resolver.resource("Observability")["Properties"]["Parameters"]
    assert parameters["ChatKitLogGroupName"] == default_refs()["ChatKitLogGroup"]
    assert parameters["ChatKitTimeoutSeconds"] == "120"
    assert parameters["ChatKitFunctionName"] == "chatkit-fn"
    assert parameters["DashboardName"] == "todo-assistant-test"
    assert "DashboardUrl" in template["Outputs"]


def test_service_dimensions_match_the_functions() -> None:
    nested = load_infra()["Parameters"]
    services = service_names()
    assert nested["ChatKitServiceName"]["Default"] == services["ChatKitFunction"]
    assert nested["SessionServiceName"]["Default"] == services["SessionFunction"]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_functions_put_the_environment_dimension(environment: str) -> None:
    resolver = Resolver(
        load_template(), {**REQUIRED_PARAMETERS, "EnvironmentName": environment}, default_refs()
    )
    for logical_id in ("ChatKitFunction", "SessionFunction"):
        env = resolver.function_environment(logical_id)
        assert env["ENVIRONMENT_NAME"] == environment
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "TodoAssistant"


def test_infra_path_is_where_the_design_puts_it() -> None:
    assert INFRA_PATH.is_file() and (ROOT / "infra" / "README.md").is_file()
    assert Path(INFRA_PATH).parent.name == "infra"
