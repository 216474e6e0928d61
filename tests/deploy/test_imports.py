"""What each function imports at init, in a fresh interpreter with Lambda's environment.

The session function must start fast: no agent, OpenAI or ChatKit server code. Neither
function may reach the network while it imports (a dead DynamoDB endpoint proves it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.deploy.cfn import ROOT

ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "todo-assistant-import-test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "todo-assistant-import-test",
    "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://idp.example.test/",
    "OIDC_AUDIENCE": "todo-web",
    "TOKEN_SIGNING_KEY": "import-test-signing-key-0123456789abcdef",
    "MODEL_PROVIDER": "local",
    "LOG_LEVEL": "WARNING",
}

PROBE = """
import json, sys
sys.path.insert(0, {path!r})
import app
assert callable(app.handler) and app.app is not None
print(json.dumps(sorted(sys.modules)))
"""


def imported_modules(function: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TOKEN_"))}
    env.update(ENVIRONMENT)
    path = str(ROOT / "functions" / function)
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(path=path)],
        env=env,
        cwd=path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_session_function_imports_no_agent_openai_or_chatkit_server() -> None:
    modules = imported_modules("session")
    assert not {"agents", "openai", "mcp", "litellm"} & top_level(modules)
    assert not {"chatkit.server", "chatkit.agents", "chatkit.store"} & modules
    assert "todo_assistant.web.session_app" in modules


@pytest.mark.parametrize("function", ["session", "chatkit"])
def test_no_function_imports_what_only_development_or_tracing_needs(function: str) -> None:
    modules = top_level(imported_modules(function))
    # X-Ray's SDK is in maintenance; moto, uvicorn's reloader and LiteLLM are not for Lambda.
    assert not {"aws_xray_sdk", "moto", "litellm", "pytest", "httpx_sse"} & modules
    assert "todo_assistant" in modules
