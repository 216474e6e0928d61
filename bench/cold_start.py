"""Cold start: importing and initialising each function's handler, in fresh interpreters.

What Lambda pays on a cold start without SnapStart (and once per published version with it):
`import app` from functions/<name>, which builds the FastAPI app, its dependencies and the
Mangum handler. Medians of several runs, each in a new process; the environment is Lambda's
minus AWS (moto on loopback for DynamoDB and S3, a signing key in the environment), so nothing
reaches the network at import.

Next to each handler, two floors: the SDKs named as its floor so far (session: fastapi, mangum,
pynamodb and boto3; chatkit: `import chatkit.server`), and every library the handler cannot
start without (those plus PyJWT, pydantic-settings, Powertools and python-ulid). What the
handler takes beyond its library floor is its own code and its init.

Then, in the same process, its first request through the Mangum handler: the session function
answers GET /tasks, the chatkit function a first turn (threads.create, the local model adding a
task, with its widget). Work moved out of the import shows up there; a second run of each does
the SnapStart warm-up first (`before_checkpoint`, then `after_restore`), as a restored copy of
a snapshot would have it.

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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from bench.support import ROOT, median, print_table, ratio
from todo_assistant.config import Settings
from todo_assistant.wiring.shared import build_client_secrets
from todo_assistant_dev.mint_secret import fill_placeholders
from todo_assistant_dev.stack import embedded_moto, prepare_aws_resources

# Everything the template sets that the apps read at init, with local stand-ins for AWS
# (the endpoints are moto's, filled in once it runs).
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "todo-assistant-bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "TABLE_NAME": "todo-assistant-bench",
    "LARGE_ITEM_BUCKET": "todo-assistant-bench",
    "AUTH_MODE": "oidc",
    "OIDC_ISSUER": "https://idp.example.test/",
    "OIDC_AUDIENCE": "todo-bench",
    "TOKEN_SIGNING_KEY": "bench-signing-key-not-a-secret-0123456789abcdef",
    "MODEL_PROVIDER": "local",
    "LOG_LEVEL": "WARNING",
}

# Each subject runs as `python -c` in a fresh interpreter and prints its own import time, so
# interpreter start-up (the same for all) is left out; then, if it has one, the time its
# handler takes to answer its first request.
TIMED = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
{statement}
elapsed = time.perf_counter() - started
import json
result = {{"ms": elapsed * 1000, "modules": len(sys.modules)}}
{request}
print(json.dumps(result))
"""

FIRST_REQUEST = """
from types import SimpleNamespace
event = json.loads({event!r})
context = SimpleNamespace(
    aws_request_id="bench",
    function_name="todo-assistant-bench",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:todo-assistant-bench",
    memory_limit_in_mb=1024,
    get_remaining_time_in_millis=lambda: 60_000,
)
if {warm!r}:
    from todo_assistant.web.snapstart import after_restore, before_checkpoint
    before_checkpoint()
    after_restore()
started = time.perf_counter()
reply = app.handler(event, context)
result["first_ms"] = (time.perf_counter() - started) * 1000
result["status"] = reply["statusCode"]
result["error_event"] = '"type":"error"' in (reply.get("body") or "")
"""

SESSION = "session handler (functions/session)"
CHATKIT = "chatkit handler (functions/chatkit)"
SESSION_FLOOR = "floor: fastapi + mangum + pynamodb + boto3"
SESSION_LIBRARIES = "floor: session's libraries (those + jwt, pydantic-settings, powertools, ulid)"
CHATKIT_FLOOR = "floor: import chatkit.server"
CHATKIT_LIBRARIES = "floor: chatkit's libraries (chatkit.server + the session's)"
# Each handler against its floors: (issue floor, library floor).
FLOORS = {
    "session": (SESSION_FLOOR, SESSION_LIBRARIES),
    "chatkit": (CHATKIT_FLOOR, CHATKIT_LIBRARIES),
}
SESSION_IMPORTS = "fastapi, mangum, pynamodb.models, boto3"
# What both handlers import whatever they do: signing and verifying tokens (PyJWT with
# cryptography), the settings, logs and metrics (Powertools) and ids (python-ulid).
LIBRARY_IMPORTS = "jwt, pydantic_settings, aws_lambda_powertools, ulid"
ARTIFACT_DIRS = (ROOT / ".aws-sam" / "build", ROOT / ".cache" / "deploy-test" / "build")


@dataclass(frozen=True)
class Subject:
    label: str
    family: str
    paths: list[str]
    statement: str
    flags: list[str] = field(default_factory=list)
    # A sample event (events/<path>) the handler answers after the import, in the same process.
    request: str | None = None
    # Run the SnapStart hooks between the import and that request.
    warm: bool = False
    env: dict[str, str] = field(default_factory=dict)


SESSION_DIR = [str(ROOT / "functions/session")]
CHATKIT_DIR = [str(ROOT / "functions/chatkit")]
SUBJECTS = [
    Subject(SESSION, "session", SESSION_DIR, "import app", request="session/tasks-list.json"),
    Subject(
        "session handler, SnapStart warm-up before the request",
        "session",
        SESSION_DIR,
        "import app",
        request="session/tasks-list.json",
        warm=True,
    ),
    Subject(SESSION_FLOOR, "session", [], f"import {SESSION_IMPORTS}"),
    Subject(SESSION_LIBRARIES, "session", [], f"import {SESSION_IMPORTS}, {LIBRARY_IMPORTS}"),
    Subject(CHATKIT, "chatkit", CHATKIT_DIR, "import app", request="chatkit/threads-create.json"),
    Subject(
        "chatkit handler, SnapStart warm-up before the request",
        "chatkit",
        CHATKIT_DIR,
        "import app",
        request="chatkit/threads-create.json",
        warm=True,
    ),
    # What AWS runs once an OpenAI key is configured (MODEL_PROVIDER=auto): an OpenAI model.
    # The key is a stand-in; nothing calls OpenAI at import.
    Subject(
        "chatkit handler, MODEL_PROVIDER=openai",
        "chatkit",
        CHATKIT_DIR,
        "import app",
        env={"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": "bench-stand-in-not-a-key"},
    ),
    Subject(CHATKIT_FLOOR, "chatkit", [], "import chatkit.server"),
    Subject(
        CHATKIT_LIBRARIES,
        "chatkit",
        [],
        f"import chatkit.server, {SESSION_IMPORTS}, {LIBRARY_IMPORTS}",
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
            subjects.append(
                Subject(f"{name} handler, {label}", name, paths, "import app", isolated)
            )
    return subjects


@contextmanager
def aws_on_loopback() -> Iterator[tuple[dict[str, str], Callable[[], str]]]:
    """moto for the first requests, with the table and bucket as template.yaml makes them.
    Yields the function environment and a minter of client secrets, each for a new user (so
    no run meets the rate limits or the data of another)."""
    with embedded_moto() as endpoint:
        env = {**FUNCTION_ENV, "DYNAMODB_ENDPOINT": endpoint, "S3_ENDPOINT": endpoint}
        with mock.patch.dict(os.environ, env):
            settings = Settings()
            prepare_aws_resources(settings)
        secrets = build_client_secrets(settings)

        def mint() -> str:
            return secrets.issue(f"bench-{uuid.uuid4().hex[:12]}").client_secret

        yield env, mint


@dataclass
class Figures:
    import_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    modules: int = 0


def measure(subject: Subject, function_env: dict[str, str], mint: Callable[[], str]) -> Figures:
    env = {**os.environ, **function_env}
    for name in ("PYTHONPATH", "OPENAI_API_KEY", "TOKEN_SIGNING_KEY_SECRET_ID"):
        env.pop(name, None)
    env.update(subject.env)
    request = ""
    if subject.request:
        event = (ROOT / "events" / subject.request).read_text()
        event = fill_placeholders(event, {"client_secret": mint()})
        request = FIRST_REQUEST.format(event=event, warm=subject.warm)
    code = TIMED.format(paths=subject.paths, statement=subject.statement, request=request)
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
    if subject.request and (result["status"] >= 300 or result["error_event"]):
        raise RuntimeError(f"{subject.label}: {subject.request} answered {result['status']}")
    first = [float(result["first_ms"])] if subject.request else []
    return Figures([float(result["ms"])], first, int(result["modules"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per subject")
    parser.add_argument("--artifact", type=Path, help="a sam build directory to measure too")
    args = parser.parse_args(argv)

    build_dir = args.artifact or next(
        (d for d in ARTIFACT_DIRS if (d / "CommonLayer").is_dir()), None
    )
    figures: dict[str, Figures] = {}
    with (
        tempfile.TemporaryDirectory(prefix="artifact-no-pyc-") as scratch,
        aws_on_loopback() as (function_env, mint),
    ):
        subjects = SUBJECTS + (artifact_subjects(build_dir, Path(scratch)) if build_dir else [])
        for subject in subjects:
            # One discarded run: the OS file cache, as on a warm host.
            measure(subject, function_env, mint)
            runs = [measure(subject, function_env, mint) for _ in range(args.runs)]
            figures[subject.label] = Figures(
                [ms for run in runs for ms in run.import_ms],
                [ms for run in runs for ms in run.first_ms],
                runs[-1].modules,
            )
    families = {subject.label: subject.family for subject in subjects}

    def at(label: str) -> float:
        return median(figures[label].import_ms)

    print(
        f"Cold start: import + init, median of {args.runs} fresh processes "
        f"(Python {sys.version.split()[0]})"
    )
    rows = []
    for label, figure in figures.items():
        issue_floor, library_floor = (at(floor) for floor in FLOORS[families[label]])
        m = at(label)
        first = f"{median(figure.first_ms):.0f}" if figure.first_ms else "-"
        rows.append(
            (
                label,
                f"{m:.0f}",
                f"{min(figure.import_ms):.0f}",
                f"{max(figure.import_ms):.0f}",
                figure.modules,
                first,
                ratio(m, issue_floor),
                ratio(m, library_floor),
            )
        )
    print_table(
        [
            "subject",
            "median ms",
            "min ms",
            "max ms",
            "modules",
            "first request ms",
            "vs issue floor",
            "vs library floor",
        ],
        rows,
    )
    for name, label in (("session", SESSION), ("chatkit", CHATKIT)):
        issue_floor, library_floor = FLOORS[name]
        print(
            f"\n{name} handler: its libraries ({at(library_floor):.0f} ms) + "
            f"{at(label) - at(library_floor):.0f} ms of its own modules and init = "
            f"{ratio(at(label), at(library_floor))} its library floor, "
            f"{ratio(at(label), at(issue_floor))} {issue_floor.removeprefix('floor: ')}"
        )
    print(
        "\nFirst request, in the same process after the import, through the Mangum handler: "
        "GET /tasks (session), a first turn (chatkit: threads.create, the local model adds a "
        f"task). The session handler starts {ratio(at(CHATKIT), at(SESSION))} faster than chatkit."
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
