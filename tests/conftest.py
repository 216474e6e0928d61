"""Shared fixtures: DynamoDB backends (moto server, DynamoDB Local), settings, services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

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

from tests.support.paths import ROOT  # noqa: E402
from tests.support.settings import (  # noqa: E402
    BUCKET,
    DYNAMODB_BACKENDS,
    bound_settings,
    settings_for_backend,
)
from todo_assistant.config import Settings  # noqa: E402
from todo_assistant_dev.stack import embedded_moto  # noqa: E402


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
