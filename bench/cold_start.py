"""Cold start: importing and initialising each function's handler, in fresh interpreters.

What Lambda pays on a cold start without SnapStart (and once per published version with it):
`import app` from functions/<name>, which builds the FastAPI app, its dependencies and the
Mangum handler. Next to it, the floors: importing the SDKs alone. Medians of several runs,
each in a new process; the environment is Lambda's minus AWS (a dummy DynamoDB endpoint and a
signing key in the environment), so nothing reaches the network at import.

With a built artifact (`python scripts/package.py`, or the test tier's .cache/deploy-test),
the handlers are also imported from it as Lambda does: `python -I -S`, only the function
directory and the layer on sys.path; once with the bytecode the build adds and once without
(as `sam build` alone ships it, and Lambda's read-only /opt cannot cache what it compiles).

    python -m bench.cold_start [--runs 5] [--artifact .aws-sam/build]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.support import ROOT, median, print_table, ratio

# Everything the template sets that the apps read at init, with local stand-ins for AWS.
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "todo-assistant-bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "TABLE_NAME": "todo-assistant-bench",
    "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://idp.example.test/",
    "OIDC_AUDIENCE": "todo-bench",
    "TOKEN_SIGNING_KEY": "bench-signing-key-not-a-secret-0123456789abcdef",
    "MODEL_PROVIDER": "local",
    "LOG_LEVEL": "WARNING",
}

# Each subject runs as `python -c` in a fresh interpreter and prints its own import time, so
# interpreter start-up (the same for all) is left out.
TIMED = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
import json
print(json.dumps({{"ms": elapsed * 1000, "modules": len(sys.modules)}}))
"""

SESSION = "session handler (functions/session)"
CHATKIT = "chatkit handler (functions/chatkit)"
FLOOR = "floor: import chatkit.server"
ARTIFACT_DIRS = (ROOT / ".aws-sam" / "build", ROOT / ".cache" / "deploy-test" / "build")


@dataclass(frozen=True)
class Subject:
    label: str
    paths: list[str]
    statement: str
    flags: list[str] = field(default_factory=list)


SUBJECTS = [
    Subject(SESSION, [str(ROOT / "functions/session")], "import app"),
    Subject(CHATKIT, [str(ROOT / "functions/chatkit")], "import app"),
    Subject(FLOOR, [], "import chatkit.server"),
    Subject(
        "floor: fastapi + mangum + pynamodb + boto3",
        [],
        "import fastapi, mangum, pynamodb.models, boto3",
    ),
]


def artifact_subjects(build_dir: Path, bare: Path) -> list[Subject]:
    """The handlers imported from the artifact alone: function code, then the layer."""
    # A copy without __pycache__ (as sam build alone ships it): the artifact's own modules
    # compile on import, the runtime's standard library keeps its bytecode.
    no_pyc = shutil.ignore_patterns("__pycache__")
    for part in ("CommonLayer", "SessionFunction", "ChatKitFunction"):
        shutil.copytree(build_dir / part, bare / part, ignore=no_pyc)
    isolated = ["-I", "-S", "-B"]
    subjects = []
    for name, logical_id in (("session", "SessionFunction"), ("chatkit", "ChatKitFunction")):
        for label, root in (("artifact (-I -S)", build_dir), ("artifact, no .pyc", bare)):
            paths = [str(root / logical_id), str(root / "CommonLayer" / "python")]
            subjects.append(Subject(f"{name} handler, {label}", paths, "import app", isolated))
    return subjects


def measure(subject: Subject) -> tuple[float, int]:
    env = {**os.environ, **FUNCTION_ENV}
    for name in ("PYTHONPATH", "OPENAI_API_KEY", "TOKEN_SIGNING_KEY_SECRET_ID"):
        env.pop(name, None)
    code = TIMED.format(paths=subject.paths, statement=subject.statement)
    output = subprocess.run(
        [sys.executable, *subject.flags, "-c", code],
        env=env,
        cwd=subject.paths[0] if subject.paths else ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"{subject.label} failed:\n{output.stderr[-2000:]}")
    result = json.loads(output.stdout.strip().splitlines()[-1])
    return float(result["ms"]), int(result["modules"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per subject")
    parser.add_argument("--artifact", type=Path, help="a sam build directory to measure too")
    args = parser.parse_args(argv)

    build_dir = args.artifact or next(
        (d for d in ARTIFACT_DIRS if (d / "CommonLayer").is_dir()), None
    )
    figures: dict[str, tuple[float, float, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="artifact-no-pyc-") as scratch:
        subjects = SUBJECTS + (artifact_subjects(build_dir, Path(scratch)) if build_dir else [])
        for subject in subjects:
            measure(subject)  # one discarded run: the OS file cache, as on a warm host
            runs = [measure(subject) for _ in range(args.runs)]
            times = [ms for ms, _ in runs]
            figures[subject.label] = (median(times), min(times), max(times), runs[-1][1])

    floor, session, chatkit = (figures[k][0] for k in (FLOOR, SESSION, CHATKIT))
    print(
        f"Cold start: import + init, median of {args.runs} fresh processes "
        f"(Python {sys.version.split()[0]})"
    )
    print_table(
        ["subject", "median ms", "min ms", "max ms", "modules", "vs chatkit.server", "vs session"],
        [
            (label, f"{m:.0f}", f"{lo:.0f}", f"{hi:.0f}", n, ratio(m, floor), ratio(m, session))
            for label, (m, lo, hi, n) in figures.items()
        ],
    )
    print(
        f"\nchatkit handler = chatkit.server floor + {chatkit - floor:.0f} ms of its own init; "
        f"the session handler starts {ratio(chatkit, session)} faster than chatkit."
    )
    if build_dir is None:
        print("(no built artifact: `python scripts/package.py` builds one to measure too)")
    else:
        print(
            f"artifact: {build_dir.relative_to(ROOT) if build_dir.is_relative_to(ROOT) else build_dir}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
