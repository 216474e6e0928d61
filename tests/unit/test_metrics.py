"""The EMF lines both apps print: names, values, dimensions, and nothing about the user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from chatkit.errors import ErrorCode
from chatkit.types import ErrorEvent

from tests.support.oidc import AUDIENCE, IdentityProvider, oidc_overrides, run_identity_provider
from tests.support.settings import make_settings
from todo_assistant.config import Settings
from todo_assistant.metrics import TurnMetrics
from todo_assistant.web.streaming import _ERROR_EVENT_PREFIX, sse_event
from todo_assistant.wiring.chatkit import build_chatkit_app
from todo_assistant.wiring.session import build_session_app
from todo_assistant_dev.chat_client import create_thread_request

MESSAGE = "Add a task to buy groceries"


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TodoAssistant")
    monkeypatch.setenv("ENVIRONMENT_NAME", "test")


def emf_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            lines.append(json.loads(line))
    return lines


def metric_values(lines: list[dict[str, Any]]) -> dict[tuple[str, tuple[str, ...]], float]:
    """(metric name, sorted dimension values) -> summed value."""
    totals: dict[tuple[str, tuple[str, ...]], float] = {}
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "TodoAssistant"
        (dimension_names,) = directive["Dimensions"]
        dimensions = tuple(f"{name}={line[name]}" for name in sorted(dimension_names))
        for metric in directive["Metrics"]:
            value = line[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            key = (metric["Name"], dimensions)
            totals[key] = totals.get(key, 0) + sum(values)
    return totals


def assert_no_user_data(lines: list[dict[str, Any]], *secrets: str) -> None:
    allowed = {"_aws", "service", "environment", "tool"}
    for line in lines:
        names = {m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
        assert set(line) - names <= allowed, line
        text = json.dumps(line)
        for secret in secrets:
            assert secret not in text


async def test_a_chat_turn_emits_turn_and_tool_metrics(
    moto_settings: Settings, user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_chatkit_app(moto_settings)
    secret = app.state.deps.secrets.issue(user_id).client_secret
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        capsys.readouterr()
        response = await client.post(
            "/chatkit",
            json=create_thread_request(MESSAGE),
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert response.status_code == 200 and "thread.created" in response.text

    lines = emf_lines(capsys.readouterr().out)
    values = metric_values(lines)
    base = ("environment=test", "service=todo-assistant")
    assert values[("Turns", base)] == 1
    assert values[("TurnErrors", base)] == 0
    assert values[("ClientDisconnects", base)] == 0
    assert values[("TurnsStopped", base)] == 0
    assert values[("ToolCalls", base)] == 1
    assert values[("ToolCalls", (*base, "tool=add_task"))] == 1
    duration = values[("TurnDurationMs", base)]
    first_event = values[("TimeToFirstEventMs", base)]
    assert 0 < first_event <= duration
    assert_no_user_data(lines, user_id, secret, MESSAGE, "groceries")


async def test_a_failed_request_is_no_turn(
    moto_settings: Settings, user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_chatkit_app(moto_settings)
    secret = app.state.deps.secrets.issue(user_id).client_secret
    missing = {
        "type": "threads.add_user_message",
        "params": {"thread_id": "thr_missing", **create_thread_request("hi")["params"]},
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        capsys.readouterr()
        response = await client.post(
            "/chatkit", json=missing, headers={"Authorization": f"Bearer {secret}"}
        )
    assert response.status_code == 404
    assert emf_lines(capsys.readouterr().out) == []


def test_a_turn_the_user_stopped_is_counted_once_both_parties_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    turn = TurnMetrics()
    turn.stopped()
    turn.stream_ended()
    assert emf_lines(capsys.readouterr().out) == []  # the response is still being sent
    turn.response_ended(complete=True)
    values = metric_values(emf_lines(capsys.readouterr().out))
    base = ("environment=test", "service=todo-assistant")
    assert values[("TurnsStopped", base)] == 1 and values[("Turns", base)] == 1


def test_error_events_are_recognised_on_the_wire() -> None:
    # TurnErrors counts chunks by this prefix; a change in the SDK's serialization shows here.
    chunk = sse_event(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))
    assert chunk.startswith(_ERROR_EVENT_PREFIX)


@pytest.fixture
def identity_provider() -> Iterator[IdentityProvider]:
    with run_identity_provider() as provider:
        yield provider


@pytest.fixture
async def session_client(
    moto_endpoint: str, identity_provider: IdentityProvider
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(moto_endpoint, moto_endpoint, **oidc_overrides(identity_provider))
    app = build_session_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


async def test_session_metrics(
    session_client: httpx.AsyncClient,
    identity_provider: IdentityProvider,
    user_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app_token = identity_provider.token(user_id)
    capsys.readouterr()
    issued = await session_client.post("/session", headers={"Authorization": f"Bearer {app_token}"})
    assert issued.status_code == 200
    secret = issued.json()["client_secret"]
    refreshed = await session_client.post(
        "/session/refresh", headers={"Authorization": f"Bearer {secret}"}
    )
    assert refreshed.status_code == 200
    wrong_audience = identity_provider.token(user_id, aud=f"not-{AUDIENCE}")
    refused = await session_client.post(
        "/session", headers={"Authorization": f"Bearer {wrong_audience}"}
    )
    assert refused.status_code == 401
    bearer = {"Authorization": f"Bearer {refreshed.json()['client_secret']}"}
    created = await session_client.post("/tasks", json={"title": "Call mom"}, headers=bearer)
    assert created.status_code == 201
    assert (await session_client.get("/tasks", headers=bearer)).status_code == 200
    assert (await session_client.get("/healthz")).status_code == 200

    lines = emf_lines(capsys.readouterr().out)
    values = metric_values(lines)
    base = ("environment=test", "service=todo-assistant")
    assert values == {
        ("SessionsIssued", base): 1,
        ("SessionRefreshes", base): 1,
        ("SignInFailures", base): 1,
        ("TaskApiRequests", base): 2,
    }
    assert_no_user_data(lines, user_id, app_token, secret, wrong_audience, "Call mom")


async def test_metrics_can_be_switched_off(
    session_client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    capsys.readouterr()
    assert (await session_client.post("/session")).status_code == 401
    assert emf_lines(capsys.readouterr().out) == []
