"""CORS answers configured origins only (locally the app does it; in Lambda the function URL
does, and the app adds nothing, so the browser never sees duplicate headers)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.oidc import oidc_overrides
from tests.support.security import World
from tests.support.settings import make_settings
from todo_assistant.wiring.session import build_session_app
from todo_assistant_dev.live_server import live_server

pytestmark = pytest.mark.e2e

ALLOWED = "http://localhost:3000"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}
PATHS = ["/session", "/session/refresh", "/chatkit", "/chatkit/cancel", "/tasks", "/tasks/1"]


@pytest.mark.parametrize("path", PATHS)
def test_preflight_from_the_configured_origin(world: World, cases, path):
    response = world.http.options(f"{world.base}{path}", headers={"Origin": ALLOWED, **PREFLIGHT})
    cases.tried()
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    # Bearer tokens, never cookies: credentials mode stays off.
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:3000.evil"])
@pytest.mark.parametrize("path", PATHS)
def test_other_origins_get_no_cors_grant(world: World, cases, path, origin):
    preflight = world.http.options(f"{world.base}{path}", headers={"Origin": origin, **PREFLIGHT})
    cases.tried()
    assert "access-control-allow-origin" not in preflight.headers
    actual = world.http.post(f"{world.base}{path}", headers={"Origin": origin}, json={})
    cases.tried()
    assert "access-control-allow-origin" not in actual.headers


def test_under_lambda_the_app_leaves_cors_to_the_function_url(world: World, cases, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todo-assistant-session")
    settings = make_settings(
        world.settings.dynamodb_endpoint or "",
        world.settings.s3_endpoint or "",
        **oidc_overrides(world.idp),
    )
    assert settings.cors_allow_origins == [ALLOWED]
    app = build_session_app(settings)
    with live_server(app) as base, httpx.Client() as http:
        response = http.options(f"{base}/session", headers={"Origin": ALLOWED, **PREFLIGHT})
        cases.tried()
        assert "access-control-allow-origin" not in response.headers
