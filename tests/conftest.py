"""Shared fixtures: DynamoDB backends (moto server, DynamoDB Local), settings, services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

# Tests never reach AWS: dummy credentials, fixed region, and no inherited endpoints.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
for _name in ("AWS_PROFILE", "DYNAMODB_ENDPOINT", "OPENAI_API_KEY", "AWS_LAMBDA_FUNCTION_NAME"):
    os.environ.pop(_name, None)

from todo_assistant.config import Settings  # noqa: E402
from todo_assistant.db.table import create_table_if_missing  # noqa: E402
from todo_assistant.wiring.shared import bind_table  # noqa: E402
from todo_assistant_dev.stack import embedded_moto  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV_KEY = "dev-insecure-test-signing-key-0123456789abcdef"
BUCKET = "todo-assistant-test-large-items"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per session: DynamoDB for the moto tier, S3 for every tier."""
    with embedded_moto() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def dynamodb_local_endpoint() -> Iterator[str]:
    from todo_assistant_dev.dynamodb_local import find_dynamodb_local_dir, run_dynamodb_local

    jar_dir = find_dynamodb_local_dir(ROOT)
    if jar_dir is None:
        if os.environ.get("CI"):
            pytest.fail("DynamoDB Local is required in CI: run scripts/install-dynamodb-local.sh")
        pytest.skip("DynamoDB Local not installed (make dynamodb-local)")
    with run_dynamodb_local(jar_dir) as endpoint:
        yield endpoint


def make_settings(dynamodb_endpoint: str, s3_endpoint: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "table_name": "todo-assistant-test",
        "dynamodb_endpoint": dynamodb_endpoint,
        "s3_endpoint": s3_endpoint,
        "large_item_bucket": BUCKET,
        "auth_mode": "dev",
        "token_signing_key": DEV_KEY,
        "model_provider": "local",
        "cors_allow_origins": ["http://localhost:3000"],
        # moto and DynamoDB Local ignore a transaction's ClientRequestToken: a client retry
        # after a read timeout on a busy machine would apply the transaction twice. Slow
        # answers are waited for instead.
        "dynamodb_read_timeout_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


_created_tables: set[tuple[str, str]] = set()


def bound_settings(dynamodb_endpoint: str, s3_endpoint: str, **overrides: object) -> Settings:
    settings = make_settings(dynamodb_endpoint, s3_endpoint, **overrides)
    bind_table(settings)
    key = (dynamodb_endpoint, settings.table_name)
    if key not in _created_tables:
        create_table_if_missing()
        _created_tables.add(key)
    return settings


DYNAMODB_BACKENDS = ["moto", pytest.param("dynamodb_local", marks=pytest.mark.dynamodb_local)]


def settings_for_backend(request: pytest.FixtureRequest, backend: str) -> Settings:
    moto = request.getfixturevalue("moto_endpoint")
    if backend == "moto":
        return bound_settings(moto, moto)
    return bound_settings(request.getfixturevalue("dynamodb_local_endpoint"), moto)


@pytest.fixture(params=DYNAMODB_BACKENDS)
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """The same tests on moto and on DynamoDB Local, so moto's fidelity gaps cannot hide a bug."""
    return settings_for_backend(request, request.param)


@pytest.fixture
def moto_settings(moto_endpoint: str) -> Settings:
    return bound_settings(moto_endpoint, moto_endpoint)


@pytest.fixture
def user_id() -> str:
    """A fresh user per test: the table is shared, and isolation by user is the design."""
    return f"user-{uuid.uuid4().hex[:12]}"
