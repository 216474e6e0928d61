"""What the deployed functions do at start-up: dev sign-in can never be switched on in Lambda,
an incomplete OIDC set-up fails loudly, and the session function stays free of agent code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import ROOT
from tests.support.settings import DEV_KEY

SESSION_FUNCTION = ROOT / "functions" / "session" / "app.py"


def start_session_function(
    env: dict[str, str], probe: str = ""
) -> subprocess.CompletedProcess[str]:
    """Import the session function's entry point the way the Lambda runtime does."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUTH_", "OIDC_", "TOKEN_", "CHATKIT_", "OPENAI_", "AWS_LAMBDA"))
    }
    code = f"import runpy, sys; runpy.run_path({str(SESSION_FUNCTION)!r}); {probe}"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "todo-assistant-session"}


@pytest.mark.parametrize(
    "key", [DEV_KEY, "a-real-looking-production-signing-key-0123456789"], ids=["dev", "real"]
)
def test_dev_sign_in_cannot_start_in_lambda(cases, key):
    result = start_session_function({**LAMBDA, "AUTH_MODE": "dev", "TOKEN_SIGNING_KEY": key})
    cases.tried()
    assert result.returncode != 0
    assert "AUTH_MODE=dev is refused in AWS Lambda" in result.stderr


def test_dev_sign_in_needs_a_development_key_outside_lambda(cases):
    result = start_session_function(
        {"AUTH_MODE": "dev", "TOKEN_SIGNING_KEY": "a-real-looking-production-key-0123456789"}
    )
    cases.tried()
    assert result.returncode != 0
    assert "development signing key" in result.stderr


def test_lambda_defaults_to_oidc_and_refuses_to_start_unconfigured(cases):
    result = start_session_function({**LAMBDA, "TOKEN_SIGNING_KEY": "k" * 40})
    cases.tried()
    assert result.returncode != 0
    assert "AUTH_MODE=oidc is incomplete" in result.stderr
    assert "OIDC_ISSUER is not set" in result.stderr
    assert "OIDC_AUDIENCE is not set" in result.stderr


@pytest.mark.parametrize("algorithms", ["HS256", "none", "RS256,HS512"])
def test_symmetric_or_none_algorithms_are_refused_at_start_up(cases, algorithms):
    result = start_session_function(
        {
            **LAMBDA,
            "TOKEN_SIGNING_KEY": "k" * 40,
            "OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            "OIDC_AUDIENCE": "client",
            "OIDC_ALGORITHMS": algorithms,
        }
    )
    cases.tried()
    assert result.returncode != 0
    assert "only asymmetric algorithms" in result.stderr


HEAVY = "[m for m in ('agents', 'openai', 'chatkit.server') if m in sys.modules]"


def test_configured_oidc_session_function_starts_without_agent_or_openai_code(cases):
    result = start_session_function(
        {
            **LAMBDA,
            "TOKEN_SIGNING_KEY": "k" * 40,
            "OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example",
            "OIDC_AUDIENCE": "client",
            "OIDC_TOKEN_USE": "id",
        },
        probe=f"print({HEAVY})",
    )
    cases.tried()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
