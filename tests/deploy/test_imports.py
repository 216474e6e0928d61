"""What each function imports at init, in a fresh interpreter with Lambda's environment.

The session function must start fast: no agent, OpenAI or ChatKit server code. Neither
function may reach the network while it imports (a dead DynamoDB endpoint proves it).
What only some requests use is left to its first use, and the SnapStart warm-up
(`before_checkpoint`) does it all the same, so a restored snapshot never pays for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.deploy.cfn import ROOT
from tests.support.lambda_functions import LAMBDA_ENVIRONMENT

PROBE = """
import json, sys
sys.path.insert(0, {path!r})
import app
assert callable(app.handler) and app.app is not None
print(json.dumps(sorted(sys.modules)))
"""


# What is loaded and what is left to its first use, after the import and after the warm-up.
WARM_UP_PROBE = """
import json, sys
sys.path.insert(0, {path!r})
import app
from todo_assistant import first_use
from todo_assistant.web.snapstart import before_checkpoint

def state():
    widgets = sys.modules.get("todo_assistant.widgets.tasks")
    return {{
        "modules": sorted(sys.modules),
        "templates": widgets._template.cache_info().currsize if widgets else 0,
        "pending": sorted(
            first_use.describe(build)
            for build in first_use.registered()
            if isinstance(build, first_use.OnFirstUse) and not build.done
        ),
    }}

imported = state()
before_checkpoint()
print(json.dumps({{"imported": imported, "warmed": state()}}))
"""


@dataclass(frozen=True)
class State:
    modules: set[str]
    # First uses not yet built, by the name of what builds them.
    pending: list[str]
    # Task widget templates compiled.
    templates: int


def run_probe(function: str, probe: str, extra_env: dict[str, str] | None = None) -> object:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TOKEN_"))}
    env.update(LAMBDA_ENVIRONMENT)
    env.update(extra_env or {})
    path = str(ROOT / "functions" / function)
    result = subprocess.run(
        [sys.executable, "-c", probe.format(path=path)],
        env=env,
        cwd=path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def imported_modules(function: str) -> set[str]:
    modules = run_probe(function, PROBE)
    assert isinstance(modules, list)
    return set(modules)


def import_and_warm_up(function: str, **extra_env: str) -> tuple[State, State]:
    """The function's state after `import app`, then after the SnapStart warm-up."""
    result = run_probe(function, WARM_UP_PROBE, extra_env)
    assert isinstance(result, dict)
    imported, warmed = (result[key] for key in ("imported", "warmed"))
    return (
        State(set(imported["modules"]), imported["pending"], imported["templates"]),
        State(set(warmed["modules"]), warmed["pending"], warmed["templates"]),
    )


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


def test_chatkit_function_leaves_to_first_use_what_only_some_requests_use() -> None:
    imported, warmed = import_and_warm_up("chatkit")
    # Large items' blobs and attachments: only some requests use S3.
    assert imported.pending.count("s3_client") == 2
    # Task widgets: only turns whose tools show tasks.
    assert imported.templates == 0
    assert warmed.pending == []
    assert warmed.templates == 2
    # It verifies client secrets only: nothing fetches a key set, not even after the warm-up.
    assert "httpx" not in top_level(warmed.modules)


def test_session_function_builds_the_me_services_on_first_use_or_before_a_snapshot() -> None:
    imported, warmed = import_and_warm_up("session")
    lifecycle = {"todo_assistant.lifecycle.export", "todo_assistant.lifecycle.erase"}
    # GET /me/export and DELETE /me: their modules and S3 client wait for the first of them.
    assert imported.pending == ["build_me_services"]
    assert not lifecycle & imported.modules
    assert lifecycle <= warmed.modules
    assert warmed.pending == []
    # The first sign-in fetches the identity provider's key set (httpx): the warm-up imports it.
    assert "httpx" not in top_level(imported.modules)
    assert "httpx" in warmed.modules


LOCAL_MODEL = {
    "todo_assistant.llm.local.model",
    "todo_assistant.llm.local.composer",
    "todo_assistant.llm.local.intents",
    "todo_assistant.llm.local.dates",
}


def test_only_the_local_model_provider_imports_the_local_model() -> None:
    # An OpenAI model (the key is a stand-in: nothing calls OpenAI at import).
    _, warmed = import_and_warm_up(
        "chatkit", MODEL_PROVIDER="openai", OPENAI_API_KEY="stand-in-not-a-key"
    )
    assert not LOCAL_MODEL & warmed.modules
    assert imported_modules("chatkit") >= LOCAL_MODEL  # MODEL_PROVIDER=local: built at init
