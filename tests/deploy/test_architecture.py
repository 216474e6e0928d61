"""The house rules the layout rests on (docs/architecture.md), checked against the code.

The import contracts themselves are in pyproject.toml ([tool.importlinter]); here they are
run, and shown to catch a violation, beside the rules no contract can state.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.cfn import ROOT

PACKAGE = ROOT / "layers" / "common" / "todo_assistant"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_MODULE_LINES = 450

# Modules that may take `Settings` (or read them): wiring/ builds objects from them; the rest
# only read plain values or validate them. A builder anywhere else belongs in wiring/.
MAY_TAKE_SETTINGS = {
    "config.py",
    "secrets.py",
    "composer_options.py",
    "auth/oidc.py",
    "web/common.py",
    "web/middleware.py",
    "web/chatkit_app.py",
    "web/session_app.py",
}


def lint_imports(package_root: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(package_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=120,
        check=False,
    )


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        # The table reaching up into the wiring: a layer and a forbidden contract break.
        ("db/keys.py", "import todo_assistant.wiring.shared", "Layers"),
        # The store reaching for the limiter instead of its TurnCounter protocol.
        ("store/rows.py", "import todo_assistant.limits", "db/ and store/"),
        # The session function pulling in the agent.
        ("web/session_app.py", "import todo_assistant.agent.tools", "The session function"),
    ],
)
def test_the_contracts_catch_an_import_against_them(
    tmp_path: Path, module: str, violation: str, contract: str
) -> None:
    copy = tmp_path / "todo_assistant"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{violation}\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout[-2000:]
    broken = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(contract) for line in broken), result.stdout[-2000:]


def test_no_module_of_the_layer_is_over_the_size_a_reader_takes_in() -> None:
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in modules()}
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def _takes_settings(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if re.search(r"(?<![\w.])Settings\b", annotation):
                    return True
    return False


def test_only_wiring_builds_from_settings() -> None:
    taking = {
        p.relative_to(PACKAGE).as_posix()
        for p in modules()
        if _takes_settings(ast.parse(p.read_text()))
    }
    assert {name for name in taking if name.startswith("wiring/")} >= {
        "wiring/shared.py",
        "wiring/chatkit.py",
        "wiring/session.py",
        "wiring/retention.py",
    }
    assert {name for name in taking if not name.startswith("wiring/")} <= MAY_TAKE_SETTINGS


def test_only_the_functions_tools_and_tests_import_wiring() -> None:
    importers = set()
    for path in [*modules(), *(ROOT / "functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            if any(n.startswith("todo_assistant.wiring") for n in names):
                importers.add(path.relative_to(ROOT).as_posix())
    inside_wiring = {p for p in importers if p.startswith("layers/common/todo_assistant/wiring/")}
    assert importers - inside_wiring == {
        "functions/chatkit/app.py",
        "functions/session/app.py",
        "functions/retention/app.py",
    }


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/support; a test module is never imported by another."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                last = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("tests.") and (
                    last.startswith("test_") or last == "conftest"
                ):
                    offenders.append(f"{path.relative_to(ROOT)} imports {node.module}")
    assert offenders == []
