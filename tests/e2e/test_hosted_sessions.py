"""OpenAI-hosted ChatKit sessions (CHATKIT_WORKFLOW_ID): POST /session verifies the app token,
then creates the session with the official `openai` client against a fake OpenAI on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import jwt
import pytest
from aws_lambda_powertools.utilities import parameters
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.logs import captured_logs
from tests.support.oidc import IdentityProvider, oidc_overrides, run_identity_provider
from tests.support.paths import ROOT
from tests.support.settings import make_settings
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.wiring.session import (
    build_hosted_sessions,
    build_session_app,
    build_session_dependencies,
)
from todo_assistant_dev.live_server import free_port, live_server

pytestmark = pytest.mark.e2e

API_KEY = "sk-test-hosted-0123456789abcdefghijklmnopqrstuvwxyz"
WORKFLOW = "wf_68df4b13fa988190be50d2b8a6b3b3c2"
HOSTED_SECRET = "ek_hosted_client_secret_0123456789abcdef"


@dataclass
class FakeOpenAI:
    """POST /v1/chatkit/sessions, answering from a script of (status, body, headers, delay)."""

    script: list[tuple[int, dict[str, Any], dict[str, str], float]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def answer(
        self, status: int, body: dict[str, Any] | None = None, delay: float = 0.0, **headers: str
    ) -> None:
        self.script.append((status, body or {}, headers, delay))

    def app(self) -> Starlette:
        async def sessions(request: Request) -> Response:
            self.requests.append(
                {"headers": dict(request.headers), "json": json.loads(await request.body())}
            )
            status, body, headers, delay = self.script.pop(0) if self.script else (200, {}, {}, 0.0)
            if delay:
                await asyncio.sleep(delay)
            if status == 200 and not body:
                body = session_body(self.requests[-1]["json"])
            return JSONResponse(body, status_code=status, headers=headers)

        return Starlette(routes=[Route("/v1/chatkit/sessions", sessions, methods=["POST"])])


def session_body(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "cksess_123",
        "object": "chatkit.session",
        "client_secret": HOSTED_SECRET,
        "expires_at": int(time.time()) + 600,
        "max_requests_per_1_minute": 10,
        "status": "active",
        "user": request["user"],
        "workflow": {"id": request["workflow"]["id"], "version": None, "state_variables": None},
        "chatkit_configuration": {},
        "rate_limits": {"max_requests_per_1_minute": 10},
    }


def openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with run_identity_provider() as provider:
        yield provider


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with live_server(fake.app()) as base:
        fake.base_url = base
        yield fake


HostedSettings = Callable[..., Settings]


@pytest.fixture
def hosted_settings(
    idp: IdentityProvider, fake_openai: FakeOpenAI, moto_endpoint: str
) -> HostedSettings:
    def build(openai_url: str | None = None, **overrides: object) -> Settings:
        values: dict[str, object] = {
            **oidc_overrides(idp),
            "chatkit_workflow_id": WORKFLOW,
            "openai_api_key": API_KEY,
            "openai_base_url": f"{openai_url or fake_openai.base_url}/v1",
        }
        values.update(overrides)
        # The session app binds the (process-wide) table: keep it on the shared moto server.
        return make_settings(moto_endpoint, moto_endpoint, **values)

    return build


@contextmanager
def session_server(settings: Settings, **client_options: Any) -> Iterator[str]:
    deps = build_session_dependencies(settings)
    if client_options:
        deps.hosted = build_hosted_sessions(settings, **client_options)
    with live_server(build_session_app(settings, deps)) as base:
        yield base


def sign_in(base: str, token: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/session", headers={"Authorization": f"Bearer {token}"}, timeout=30, **kwargs
    )


def test_creates_a_hosted_session_for_the_verified_user(idp, fake_openai, hosted_settings):
    with session_server(hosted_settings()) as base:
        response = sign_in(base, idp.token("alice"), json={"user_id": "victim"})
    assert response.status_code == 200
    body = response.json()
    assert body["client_secret"] == HOSTED_SECRET
    assert set(body) == {"client_secret", "expires_at", "tasks_client_secret", "tasks_expires_at"}
    assert body["expires_at"] > time.time()
    assert body["tasks_expires_at"] > time.time()
    [sent] = fake_openai.requests
    assert sent["json"] == {"user": "alice", "workflow": {"id": WORKFLOW}}
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert sent["headers"]["openai-beta"] == "chatkit_beta=v1"


def test_an_unverified_user_never_reaches_openai(idp, fake_openai, hosted_settings):
    with session_server(hosted_settings()) as base:
        for token in ("garbage", idp.token("alice", exp=int(time.time()) - 600)):
            assert sign_in(base, token).status_code == 401
        assert httpx.post(f"{base}/session", json={"user_id": "alice"}).status_code == 401
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "code"),
    [
        (
            401,
            openai_error(f"Incorrect API key provided: {API_KEY[:8]}***{API_KEY[-4:]}", "auth"),
            {},
            502,
            "upstream_auth_failed",
        ),
        (
            403,
            openai_error("Project does not have access", "permission"),
            {},
            502,
            "upstream_auth_failed",
        ),
        (
            429,
            openai_error("Rate limit reached", "rate_limit"),
            {"retry-after": "7"},
            503,
            "upstream_busy",
        ),
        (500, openai_error("The server had an error", "server_error"), {}, 502, "upstream_error"),
        (503, openai_error("Overloaded", "server_error"), {}, 502, "upstream_error"),
        (
            404,
            openai_error(f"Workflow {WORKFLOW} not found", "invalid_request"),
            {},
            502,
            "upstream_rejected",
        ),
    ],
)
def test_upstream_errors_become_clear_gateway_errors(
    idp, fake_openai, hosted_settings, status, body, headers, expected, code
):
    fake_openai.answer(status, body, **headers)
    with (
        session_server(hosted_settings()) as base,
        captured_logs() as logs,
    ):
        response = sign_in(base, idp.token("alice"))
    assert response.status_code == expected
    payload = response.json()
    assert payload["error"] == code
    assert set(payload) == {"error", "message"}
    # Nothing of the upstream answer is passed on, and no secret reaches the logs.
    assert body["error"]["message"] not in response.text
    for secret in (API_KEY, API_KEY[:8], HOSTED_SECRET):
        assert secret not in response.text
        assert secret not in logs.text
    if status == 429:
        assert response.headers["retry-after"] == "7"
    assert len(fake_openai.requests) == 1  # no retries by default


def test_timeouts_and_unreachable_upstream(idp, fake_openai, hosted_settings):
    fake_openai.answer(200, delay=2.0)
    settings = hosted_settings()
    with session_server(settings, timeout_seconds=0.3) as base:
        started = time.monotonic()
        response = sign_in(base, idp.token("alice"))
    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"
    assert time.monotonic() - started < 1.5

    closed = hosted_settings(f"http://127.0.0.1:{free_port()}")
    with session_server(closed) as base:
        response = sign_in(base, idp.token("alice"))
    assert response.status_code == 502
    assert response.json()["error"] == "upstream_unavailable"


def test_retries_when_enabled_are_the_clients(idp, fake_openai, hosted_settings):
    fake_openai.answer(500, openai_error("blip", "server_error"), **{"retry-after-ms": "10"})
    settings = hosted_settings()
    with session_server(settings, max_retries=1) as base:
        response = sign_in(base, idp.token("alice"))
    assert response.status_code == 200
    assert len(fake_openai.requests) == 2


def test_hosted_mode_issues_a_tasks_credential_for_the_same_user(
    idp, fake_openai, hosted_settings, moto_settings
):
    # `moto_settings` creates the table the session app binds to (same name and endpoint).
    settings = hosted_settings()
    alice, bob = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("alice", "bob"))
    with session_server(settings) as base:
        body = sign_in(base, idp.token(alice)).json()
        tasks_auth = {"Authorization": f"Bearer {body['tasks_client_secret']}"}
        created = httpx.post(f"{base}/tasks", json={"title": "Buy milk"}, headers=tasks_auth)
        assert created.status_code == 201, created.text
        listed = httpx.get(f"{base}/tasks", headers=tasks_auth).json()["tasks"]
        assert [task["title"] for task in listed] == ["Buy milk"]
        # Another user's tasks credential sees only that user's tasks.
        other = sign_in(base, idp.token(bob)).json()
        other_auth = {"Authorization": f"Bearer {other['tasks_client_secret']}"}
        assert httpx.get(f"{base}/tasks", headers=other_auth).json()["tasks"] == []
        # OpenAI's secret is not a credential of this backend.
        hosted_auth = {"Authorization": f"Bearer {body['client_secret']}"}
        assert httpx.get(f"{base}/tasks", headers=hosted_auth).status_code == 401
    claims = jwt.decode(body["tasks_client_secret"], options={"verify_signature": False})
    assert claims["sub"] == alice
    assert claims["exp"] - claims["iat"] == settings.client_secret_ttl_seconds


def test_refresh_is_not_offered_for_hosted_sessions(idp, fake_openai, hosted_settings):
    with session_server(hosted_settings()) as base:
        response = httpx.post(f"{base}/session/refresh", json={"client_secret": HOSTED_SECRET})
    assert response.status_code == 400
    assert "POST /session" in response.json()["message"]


def test_api_key_from_secrets_manager(
    idp, fake_openai, moto_endpoint, monkeypatch, hosted_settings
):
    # moto's server, not `mock_aws` (which would reset the server's tables in this process).
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    name = f"todo-assistant/openai-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint
    ).create_secret(Name=name, SecretString=f"{API_KEY}\n")
    parameters.base.DEFAULT_PROVIDERS.clear()
    try:
        settings = hosted_settings(openai_api_key=None, openai_api_key_secret_id=name)
        deps = build_session_dependencies(settings)
    finally:
        parameters.base.DEFAULT_PROVIDERS.clear()
    with live_server(build_session_app(settings, deps)) as base:
        assert sign_in(base, idp.token("alice")).status_code == 200
    assert fake_openai.requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"


def test_hosted_mode_without_an_api_key_fails_at_start_up(idp, hosted_settings):
    settings = hosted_settings(openai_api_key=None)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build_session_app(settings)


def imported_heavy_modules(env: dict[str, str]) -> list[str]:
    code = (
        "import sys\n"
        "from todo_assistant.wiring.session import build_session_app\n"
        "build_session_app()\n"
        "print([m for m in ('agents', 'openai', 'chatkit.server') if m in sys.modules])\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHATKIT_"))}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_openai_is_imported_only_in_hosted_mode(idp):
    env = {
        "AUTH_MODE": "oidc",
        "OIDC_ISSUER": idp.issuer,
        "OIDC_AUDIENCE": "web",
        "TOKEN_SIGNING_KEY": "k" * 40,
    }
    assert imported_heavy_modules(env) == []
    hosted = {**env, "CHATKIT_WORKFLOW_ID": WORKFLOW, "OPENAI_API_KEY": API_KEY}
    assert imported_heavy_modules(hosted) == ["openai"]
