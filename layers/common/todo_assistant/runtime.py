"""Builds the long-lived objects of a process from `Settings` (once, at init).

Nothing here imports the agent stack, so the session function can use it and stay fast.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.store.chatkit_store import DynamoChatKitStore
from todo_assistant.store.payloads import PayloadCodec, S3BlobStore
from todo_assistant.store.table import bind_table
from todo_assistant.tasks.repository import DynamoTaskRepository
from todo_assistant.tasks.service import TaskService


def signing_key(settings: Settings) -> str:
    if settings.token_signing_key_secret_id:
        # Powertools caches the secret (5 min) so a warm function does not call AWS per request.
        from aws_lambda_powertools.utilities.parameters import get_secret

        value = get_secret(settings.token_signing_key_secret_id, max_age=300)
        key = value.decode() if isinstance(value, bytes) else str(value)
        if len(key) < 32:
            raise ConfigurationError("the signing key secret must hold at least 32 characters")
        return key
    return settings.signing_key()


def build_client_secrets(settings: Settings) -> ClientSecretService:
    return ClientSecretService(
        {settings.token_signing_key_id: signing_key(settings)},
        settings.token_signing_key_id,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        ttl_seconds=settings.client_secret_ttl_seconds,
        refresh_grace_seconds=settings.refresh_grace_seconds,
    )


def s3_client(settings: Settings) -> Any:
    return boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint,
        config=Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard"}),
    )


def build_store(settings: Settings) -> DynamoChatKitStore:
    bind_table(settings)
    blobs = (
        S3BlobStore(settings.large_item_bucket, s3_client(settings))
        if settings.large_item_bucket
        else None
    )
    return DynamoChatKitStore(PayloadCodec(blobs))


def build_task_service(settings: Settings) -> TaskService:
    bind_table(settings)
    return TaskService(DynamoTaskRepository())
