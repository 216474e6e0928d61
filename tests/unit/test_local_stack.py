"""`make dev`: dev sign-in by default, a real identity provider when OIDC_* is set."""

from __future__ import annotations

import httpx
import pytest

from tests.support.oidc import AUDIENCE, run_identity_provider
from todo_assistant.config import Settings
from todo_assistant_dev.devserver import banner
from todo_assistant_dev.live_server import live_server
from todo_assistant_dev.stack import (
    build_local_app,
    local_auth_mode,
    local_environment,
    prepare_aws_resources,
)


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, "dev"),
        ({"OIDC_ISSUER": "https://tenant.auth0.com/"}, "dev"),
        ({"OIDC_AUDIENCE": "web"}, "dev"),
        ({"OIDC_ISSUER": " ", "OIDC_AUDIENCE": "web"}, "dev"),
        ({"OIDC_ISSUER": "https://tenant.auth0.com/", "OIDC_AUDIENCE": "web"}, "oidc"),
        ({"OIDC_ISSUER": "https://x/", "OIDC_AUDIENCE": "web", "AUTH_MODE": "dev"}, "dev"),
        ({"AUTH_MODE": "OIDC"}, "oidc"),
    ],
)
def test_sign_in_mode_of_the_local_stack(environ, mode):
    assert local_auth_mode(environ) == mode


def local_settings(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> Settings:
    for name, value in local_environment(endpoint, endpoint).items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_by_default_the_stack_signs_in_anyone_by_name(monkeypatch, moto_endpoint):
    for name in ("AUTH_MODE", "OIDC_ISSUER", "OIDC_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    settings = local_settings(monkeypatch, moto_endpoint)
    assert settings.auth_mode == "dev"
    text = banner(settings, "http://127.0.0.1:8000", "embedded moto")
    assert "sign-in   : dev" in text and "make chat" in text


def test_with_oidc_settings_the_stack_signs_in_with_the_real_provider(monkeypatch, moto_endpoint):
    with run_identity_provider() as idp:
        monkeypatch.delenv("AUTH_MODE", raising=False)
        monkeypatch.setenv("OIDC_ISSUER", idp.issuer)
        monkeypatch.setenv("OIDC_AUDIENCE", AUDIENCE)
        settings = local_settings(monkeypatch, moto_endpoint)
        assert settings.auth_mode == "oidc"
        text = banner(settings, "http://127.0.0.1:8000", "embedded moto")
        assert f"sign-in   : OIDC, tokens of {idp.issuer}" in text
        prepare_aws_resources(settings)
        with live_server(build_local_app(settings)) as base:
            signed_in = httpx.post(
                f"{base}/session", headers={"Authorization": f"Bearer {idp.token('alice')}"}
            )
            assert signed_in.status_code == 200, signed_in.text
            secret = signed_in.json()["client_secret"]
            tasks = httpx.get(f"{base}/tasks", headers={"Authorization": f"Bearer {secret}"})
            assert tasks.status_code == 200
            # Dev sign-in by name is off.
            by_name = httpx.post(f"{base}/session", json={"user_id": "alice"})
            assert by_name.status_code == 401
