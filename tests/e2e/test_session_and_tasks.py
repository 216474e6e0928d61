"""Session endpoints and the tasks REST API, over HTTP."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.settings import DEV_KEY, make_settings
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import ConfigurationError
from todo_assistant.wiring.session import build_session_app

pytestmark = pytest.mark.e2e


async def session(http, stack, user: str) -> dict:
    response = await http.post(f"{stack.base_url}/session", json={"user_id": user})
    assert response.status_code == 200
    return response.json()


async def test_session_issues_a_short_lived_signed_secret(stack, http, user_id):
    body = await session(http, stack, user_id)
    assert set(body) == {"client_secret", "expires_at"}
    header = jwt.get_unverified_header(body["client_secret"])
    assert header == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    claims = jwt.decode(
        body["client_secret"], DEV_KEY, algorithms=["HS256"], audience="todo-assistant-chatkit"
    )
    assert claims["sub"] == user_id
    assert claims["exp"] == body["expires_at"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"jti", "iss", "nbf"} <= set(claims)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": ""},
        {"user_id": "a b"},
        {"user_id": "x" * 200},
        {"user_id": "ok", "admin": True},
    ],
)
async def test_session_refuses_bad_bodies(stack, http, body):
    response = await http.post(f"{stack.base_url}/session", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_refresh_accepts_valid_and_recently_expired_secrets_only(stack, http, user_id):
    current = (await session(http, stack, user_id))["client_secret"]
    refreshed = await http.post(f"{stack.base_url}/session/refresh", json={"token": current})
    assert refreshed.status_code == 200
    new_claims = jwt.decode(refreshed.json()["client_secret"], options={"verify_signature": False})
    assert new_claims["sub"] == user_id

    by_header = await http.post(
        f"{stack.base_url}/session/refresh", headers={"Authorization": f"Bearer {current}"}
    )
    assert by_header.status_code == 200

    secrets = ClientSecretService(
        {"k1": DEV_KEY},
        "k1",
        audience="todo-assistant-chatkit",
        issuer="todo-assistant-session",
        ttl_seconds=900,
    )
    recently_expired = secrets.issue(
        user_id, now=time.time() - 1000
    ).client_secret  # expired 100 s ago
    long_expired = secrets.issue(
        user_id, now=time.time() - 2000
    ).client_secret  # expired 1100 s ago
    ok = await http.post(
        f"{stack.base_url}/session/refresh", json={"client_secret": recently_expired}
    )
    assert ok.status_code == 200
    late = await http.post(
        f"{stack.base_url}/session/refresh", json={"client_secret": long_expired}
    )
    assert late.status_code == 401
    assert "expired" in late.json()["message"]
    tampered = current[:-4] + ("AAAA" if not current.endswith("AAAA") else "BBBB")
    bad = await http.post(f"{stack.base_url}/session/refresh", json={"client_secret": tampered})
    assert bad.status_code == 401
    # An expired secret refreshes, but it never opens /chatkit or /tasks.
    response = await http.get(
        f"{stack.base_url}/tasks", headers={"Authorization": f"Bearer {recently_expired}"}
    )
    assert response.status_code == 401


def test_dev_sign_in_is_refused_in_lambda_and_with_a_real_key(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todo-session")
    with pytest.raises(ConfigurationError, match="refused in AWS Lambda"):
        build_session_app(make_settings("http://127.0.0.1:1", "http://127.0.0.1:1"))
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    real_key = make_settings("http://127.0.0.1:1", "http://127.0.0.1:1", token_signing_key="k" * 48)
    with pytest.raises(ConfigurationError, match="development signing key"):
        build_session_app(real_key)


async def test_tasks_rest_api(stack, http, user_id):
    token = (await session(http, stack, user_id))["client_secret"]
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{stack.base_url}/tasks"

    created = await http.post(
        base, json={"title": "Buy milk", "priority": "high", "due_date": "2026-12-01"}, headers=auth
    )
    assert created.status_code == 201
    task = created.json()
    assert (task["number"], task["title"], task["priority"], task["status"]) == (
        1,
        "Buy milk",
        "high",
        "pending",
    )
    await http.post(base, json={"title": "Call mom"}, headers=auth)

    listed = await http.get(base, headers=auth)
    assert [t["number"] for t in listed.json()["tasks"]] == [1, 2]
    patched = await http.patch(f"{base}/1", json={"status": "completed"}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["status"] == "completed"
    assert patched.json()["completed_at"] is not None
    pending = await http.get(base, params={"status": "pending"}, headers=auth)
    assert [t["title"] for t in pending.json()["tasks"]] == ["Call mom"]
    searched = await http.get(base, params={"q": "MILK"}, headers=auth)
    assert [t["number"] for t in searched.json()["tasks"]] == [1]
    assert (await http.get(f"{base}/2", headers=auth)).json()["title"] == "Call mom"

    assert (await http.delete(f"{base}/2", headers=auth)).status_code == 204
    missing = await http.delete(f"{base}/2", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"error": "not_found", "message": "Task 2 not found."}
    assert (await http.patch(f"{base}/99", json={"title": "x"}, headers=auth)).status_code == 404

    invalid = await http.post(base, json={"title": ""}, headers=auth)
    assert invalid.status_code == 400
    assert "title" in invalid.json()["message"]
    assert (
        await http.post(base, json={"title": "x", "owner": "bob"}, headers=auth)
    ).status_code == 400
    assert (await http.get(base, params={"status": "someday"}, headers=auth)).status_code == 400
    assert (await http.get(base)).status_code == 401
    assert [t["number"] for t in (await http.get(base, headers=auth)).json()["tasks"]] == [1]

    other = (await session(http, stack, f"{user_id}-other"))["client_secret"]
    other_auth = {"Authorization": f"Bearer {other}"}
    assert (await http.get(base, headers=other_auth)).json() == {"tasks": []}
    for response in (
        await http.get(f"{base}/1", headers=other_auth),
        await http.patch(f"{base}/1", json={"title": "hijack"}, headers=other_auth),
        await http.delete(f"{base}/1", headers=other_auth),
    ):
        assert response.status_code == 404
    assert (await http.get(f"{base}/1", headers=auth)).json()["title"] == "Buy milk"


async def test_cors_for_configured_origins_only(stack, http):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = await http.options(
        f"{stack.base_url}/chatkit", headers={"Origin": "http://localhost:3000", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    denied = await http.options(
        f"{stack.base_url}/chatkit", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers


async def test_health(stack, http):
    for path in ("/healthz", "/chatkit/../healthz"):
        response = await http.get(f"{stack.base_url}{path}")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
