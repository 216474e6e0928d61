"""Build the deployment artifact with `sam build` and report its unzipped sizes.

    python scripts/package.py [--build-dir .aws-sam/build] [--validate] [--json]

`sam build` runs without Docker: it installs layers/common/requirements.txt with the local
Python 3.13's pip (the same interpreter and platform as the Lambda runtime on x86_64 Linux)
and copies the package and the function code. The SAM CLI itself is installed once, pinned,
into .cache/sam-cli.

sam build ships no bytecode, and /opt is read-only in Lambda, so every cold start (and the
SnapStart init) would compile each imported module anew: about twice the import time. This
script then compiles the artifact with `--invalidation-mode unchecked-hash` (valid whatever
the files' timestamps become in the zip; the deployment never changes in place).

Lambda allows 250 MB unzipped for a function and its layers together; the exit status is 1
when a function is over it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAM_CLI_VERSION = "1.170.0"
SAM_VENV = ROOT / ".cache" / "sam-cli"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
FUNCTIONS = {"ChatKitFunction": "chatkit", "SessionFunction": "session"}
LAYER = "CommonLayer"
RUNTIME = "python3.13"


def run(command: list[str], env: dict[str, str] | None = None, quiet: bool = False) -> None:
    # The commands are this script's own (sam, pip, venv): no outside input reaches them.
    result = subprocess.run(  # noqa: S603
        command, cwd=ROOT, env=env, capture_output=quiet, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stdout or "")[-3000:] + (result.stderr or "")[-3000:] if quiet else ""
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{detail}")


def python_for_runtime() -> Path:
    """A `python3.13` executable: this interpreter when it is 3.13, else one on PATH/pyenv."""
    if sys.version_info[:2] == (3, 13):
        here = Path(sys.executable)
        sibling = here.with_name(RUNTIME)
        return sibling if sibling.exists() else here
    found = shutil.which(RUNTIME)
    if found:
        return Path(found)
    for candidate in sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")):
        return candidate
    raise SystemExit(f"{RUNTIME} is needed on PATH: it is what sam build installs with")


def sam_cli(python: Path) -> Path:
    """The pinned SAM CLI in .cache/sam-cli, installed on first use."""
    sam = SAM_VENV / "bin" / "sam"
    marker = SAM_VENV / f".aws-sam-cli-{SAM_CLI_VERSION}"
    if sam.exists() and marker.exists():
        return sam
    shutil.rmtree(SAM_VENV, ignore_errors=True)
    run([str(python), "-m", "venv", str(SAM_VENV)])
    pip = [str(SAM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, "--upgrade", "pip"], quiet=True)
    run([*pip, f"aws-sam-cli=={SAM_CLI_VERSION}"], quiet=True)
    marker.touch()
    return sam


def sam_environment(python: Path) -> dict[str, str]:
    env = dict(os.environ)
    # sam build looks up `python3.13` on PATH; its pip then builds the layer.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["SAM_CLI_TELEMETRY"] = "0"
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    return env


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def zipped_size(path: Path) -> int:
    """What the deployment package weighs zipped, as sam deploy uploads it."""
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    zf.write(file, file.relative_to(path))
        return archive.stat().st_size


def report(build_dir: Path) -> dict[str, object]:
    layer_dir = build_dir / LAYER
    layer = tree_size(layer_dir)
    functions = {}
    for logical_id, name in FUNCTIONS.items():
        code = tree_size(build_dir / logical_id)
        functions[name] = {
            "code_dir": str(build_dir / logical_id),
            "code_bytes": code,
            "with_layer_bytes": code + layer,
            "within_limit": code + layer < LAMBDA_UNZIPPED_LIMIT,
        }
    return {
        "build_dir": str(build_dir),
        "layer_dir": str(layer_dir / "python"),
        "layer_bytes": layer,
        "layer_zipped_bytes": zipped_size(layer_dir),
        "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "functions": functions,
    }


def megabytes(value: object) -> str:
    return f"{int(str(value)) / 1024 / 1024:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".aws-sam" / "cache")
    parser.add_argument("--validate", action="store_true", help="also sam validate --lint")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    python = python_for_runtime()
    sam = sam_cli(python)
    env = sam_environment(python)
    if args.validate:
        run([str(sam), "validate", "--lint", "--template", "template.yaml"], env, quiet=True)
    build = [str(sam), "build", "--template", "template.yaml", "--build-dir", str(args.build_dir)]
    # --cached reuses the layer while layers/common is unchanged.
    build += ["--cached", "--cache-dir", str(args.cache_dir)]
    run(build, env, quiet=args.json)
    targets = [str(args.build_dir / LAYER / "python")]
    targets += [str(args.build_dir / logical_id) for logical_id in FUNCTIONS]
    compileall = [str(python), "-m", "compileall", "-q", "-j", "0"]
    run([*compileall, "--invalidation-mode", "unchecked-hash", *targets], env, quiet=True)

    result = report(args.build_dir.resolve())
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"layer {LAYER}: {megabytes(result['layer_bytes'])} unzipped, "
            f"{megabytes(result['layer_zipped_bytes'])} zipped"
        )
        functions = result["functions"]
        assert isinstance(functions, dict)
        for name, figures in functions.items():
            print(
                f"{name}: code {figures['code_bytes']} bytes; with the layer "
                f"{megabytes(figures['with_layer_bytes'])} of {megabytes(LAMBDA_UNZIPPED_LIMIT)}"
            )
    functions = result["functions"]
    assert isinstance(functions, dict)
    return 0 if all(f["within_limit"] for f in functions.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
