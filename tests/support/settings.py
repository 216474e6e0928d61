"""Settings for the test table and bucket, bound for pynamodb with the table created once per
endpoint, on either DynamoDB backend (moto server, DynamoDB Local)."""

from __future__ import annotations

import pytest

from todo_assistant.config import Settings
from todo_assistant.db.table import create_table_if_missing
from todo_assistant.wiring.shared import bind_table

DEV_KEY = "dev-insecure-test-signing-key-0123456789abcdef"
BUCKET = "todo-assistant-test-large-items"


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
