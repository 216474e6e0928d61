"""The deployment artifact, built by `sam build` (scripts/package.py), is complete on its own.

Each handler is imported in a fresh interpreter that sees only the built function directory,
the built layer and the standard library (`python -I -S`: no site-packages of this venv), as
in Lambda. run.sh then serves the chatkit app from the artifact with uvicorn, the way the Web
Adapter starts it. Sizes are printed and checked against Lambda's 250 MB unzipped limit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.cfn import ROOT
from tests.support.lambda_functions import LAMBDA_ENVIRONMENT

pytestmark = pytest.mark.slow

BUILD_ROOT = ROOT / ".cache" / "deploy-test"

ISOLATED_PROBE = """
import json, sys
sys.path[:0] = [{function!r}, {layer!r}]
import app
assert callable(app.handler)
import fastapi, todo_assistant
print(json.dumps({{
    "path": sys.path,
    "todo_assistant": todo_assistant.__file__,
    "fastapi": fastapi.__file__,
    "snapshot_restore_py": "snapshot_restore_py" in sys.modules,
}}))
"""


@dataclass(frozen=True)
class Artifact:
    report: dict[str, object]

    @property
    def layer(self) -> Path:
        return Path(str(self.report["layer_dir"]))

    def function_dir(self, name: str) -> Path:
        functions = self.report["functions"]
        assert isinstance(functions, dict)
        return Path(functions[name]["code_dir"])


@pytest.fixture(scope="session")
def artifact() -> Artifact:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "package.py"),
            "--build-dir",
            str(BUILD_ROOT / "build"),
            "--cache-dir",
            str(BUILD_ROOT / "cache"),
            "--validate",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if result.returncode != 0 and not result.stdout.strip().startswith("{"):
        message = f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)  # e.g. no PyPI here; CI always builds
    return Artifact(json.loads(result.stdout.strip().splitlines()[-1]))


def isolated_env() -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(BUILD_ROOT), "LANG": "C.UTF-8"}
    env.update(LAMBDA_ENVIRONMENT)
    return env


@pytest.mark.parametrize("function", ["session", "chatkit"])
def test_handler_imports_from_the_artifact_alone(artifact: Artifact, function: str) -> None:
    code = ISOLATED_PROBE.format(
        function=str(artifact.function_dir(function)), layer=str(artifact.layer)
    )
    result = subprocess.run(
        # -I: no user site, no PYTHON* variables; -S: no site-packages; -B: write nothing.
        [sys.executable, "-I", "-S", "-B", "-c", code],
        env=isolated_env(),
        cwd=artifact.function_dir(function),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert not [p for p in probe["path"] if "site-packages" in p], probe["path"]
    assert probe["todo_assistant"].startswith(str(artifact.layer))
    assert probe["fastapi"].startswith(str(artifact.layer))
    # The Lambda runtime provides it; the artifact must not bring its own.
    assert probe["snapshot_restore_py"] is False
    assert not (artifact.layer / "snapshot_restore_py.py").exists()


def test_artifact_carries_bytecode_for_the_runtime(artifact: Artifact) -> None:
    """Lambda's /opt is read-only: without .pyc every cold start compiles every module."""
    tag = sys.implementation.cache_tag
    assert tag == "cpython-313", "the artifact is built for the python3.13 runtime"
    for module in ("todo_assistant/web/chatkit_app.py", "fastapi/applications.py"):
        source = artifact.layer / module
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.is_file(), compiled
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == 0b01, "unchecked-hash pyc: valid whatever timestamps the zip keeps"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def run_sh(artifact: Artifact, tmp_path: Path) -> Iterator[str]:
    """functions/chatkit/run.sh from the artifact, started as the Web Adapter starts it."""
    shim = tmp_path / "bin"
    shim.mkdir()
    # `python` as Lambda's runtime provides it: the interpreter, no site-packages of ours.
    (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" -S -B "$@"\n')
    (shim / "python").chmod(0o755)
    port = free_port()
    env = isolated_env()
    env.update(
        {
            "PATH": f"{shim}:/usr/bin:/bin",
            "PYTHONPATH": str(artifact.layer),  # /opt/python in Lambda (run.sh adds that too)
            "LAMBDA_TASK_ROOT": str(artifact.function_dir("chatkit")),
            "LAMBDA_RUNTIME_DIR": str(tmp_path / "runtime"),
            "PORT": str(port),
            "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH": "/_snapstart/before-checkpoint",
            "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH": "/_snapstart/after-restore",
        }
    )
    process = subprocess.Popen(
        ["/bin/bash", "run.sh"],
        cwd=artifact.function_dir("chatkit"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            # What the adapter's readiness check does: GET the path until it answers.
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"run.sh did not become ready:\n{output[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_run_sh_serves_the_chatkit_app_from_the_artifact(run_sh: str) -> None:
    for path in ("/_snapstart/before-checkpoint", "/_snapstart/after-restore"):
        request = urllib.request.Request(f"{run_sh}{path}", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200, path
    request = urllib.request.Request(
        f"{run_sh}/chatkit", data=b"{}", method="POST", headers={"content-type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401, "the bearer is checked by the app"


def test_artifact_fits_lambda_limits(
    artifact: Artifact, capsys: pytest.CaptureFixture[str]
) -> None:
    report = artifact.report
    limit = int(str(report["limit_bytes"]))
    functions = report["functions"]
    assert isinstance(functions, dict)
    lines = [
        f"layer: {int(str(report['layer_bytes'])) / 2**20:.1f} MB unzipped, "
        f"{int(str(report['layer_zipped_bytes'])) / 2**20:.1f} MB zipped"
    ]
    for name, figures in functions.items():
        lines.append(
            f"{name}: code {figures['code_bytes']} B, with layer "
            f"{figures['with_layer_bytes'] / 2**20:.1f} MB of {limit / 2**20:.0f} MB"
        )
    with capsys.disabled():
        print("\nartifact sizes (unzipped): " + "; ".join(lines))
    for name, figures in functions.items():
        assert figures["with_layer_bytes"] < limit, name


def test_layer_holds_no_development_code(artifact: Artifact) -> None:
    """The local tooling (devtools/) and in-memory fakes never ship to Lambda."""
    package = artifact.layer / "todo_assistant"
    sources = {p.relative_to(package).as_posix(): p for p in package.rglob("*.py")}
    assert "chat/server.py" in sources and "wiring/chatkit.py" in sources  # the real layer
    assert not (artifact.layer / "todo_assistant_dev").exists()
    assert not [name for name in sources if name.startswith("local/")]
    fakes = [name for name, path in sources.items() if "class Memory" in path.read_text()]
    assert fakes == []
