"""What every function builds from `Settings`: the table binding, client secrets, S3 clients,
the payload codec, the task service and the per-user rate limits (once, at init).

Nothing here imports the agent stack, so the session function can use it and stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import boto3
from botocore.config import Config

from todo_assistant.auth.client_secrets import (
    ClientSecretService,
    KeySource,
    SigningKeys,
    parse_signing_keys,
)
from todo_assistant.auth.oidc import OidcConfig, OidcVerifier
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.db import table
from todo_assistant.db.payloads import PayloadCodec, S3BlobStore
from todo_assistant.first_use import on_first_use
from todo_assistant.limits import RateLimiter
from todo_assistant.observability import logger
from todo_assistant.secrets import read_secret
from todo_assistant.tasks.repository import DynamoTaskRepository
from todo_assistant.tasks.service import TaskService


def signing_keys(settings: Settings) -> SigningKeys:
    """The client-secret key set, from Secrets Manager when configured (Powertools caches it
    for 5 minutes) else TOKEN_SIGNING_KEY: a plain key or a JSON key set with a `current` id."""
    if settings.token_signing_key_secret_id:
        value = read_secret(settings.token_signing_key_secret_id)
    else:
        value = settings.signing_key()
    try:
        return parse_signing_keys(value, settings.token_signing_key_id)
    except ValueError as error:
        raise ConfigurationError(f"client-secret signing keys: {error}") from None


class SecretKeySource:
    """Re-reads the key set on every use, so a rotation in Secrets Manager reaches running
    functions; if a later read fails, the last good set keeps working."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._last = signing_keys(settings)

    def __call__(self) -> SigningKeys:
        try:
            self._last = signing_keys(self._settings)
        except Exception as error:
            logger.warning(
                "signing keys could not be re-read; using the last good set",
                extra={"error_type": type(error).__name__},
            )
        return self._last


def build_client_secrets(settings: Settings) -> ClientSecretService:
    keys: Mapping[str, str] | KeySource
    current_kid: str | None = None
    if settings.token_signing_key_secret_id:
        keys = SecretKeySource(settings)
    else:
        fixed = signing_keys(settings)
        keys, current_kid = fixed.keys, fixed.current_kid
    return ClientSecretService(
        keys,
        current_kid,
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        ttl_seconds=settings.client_secret_ttl_seconds,
        refresh_grace_seconds=settings.refresh_grace_seconds,
        max_session_seconds=settings.session_max_age_seconds,
    )


def s3_client(settings: Settings) -> Any:
    return boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint,
        # SigV4 for presigned attachment URLs (uploads bind their content type).
        config=Config(
            connect_timeout=2,
            read_timeout=10,
            retries={"mode": "standard"},
            signature_version="s3v4",
        ),
    )


class LazyClient:
    """A boto3 client created by its first use (or before a SnapStart snapshot), not at init.

    An S3 client takes ~50 ms to create (its service model and endpoint rules), and only some
    requests use one (items too large for DynamoDB, attachments). Every attribute is the
    client's, so it goes wherever the client would.
    """

    def __init__(self, create: Callable[[], Any]) -> None:
        self._client = on_first_use(create)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            # Private and protocol names (copy, pickle) are not forwarded: nothing outside
            # botocore uses the client's, and a copy being built has no `_client` yet.
            raise AttributeError(name)
        return getattr(self._client(), name)


def lazy_s3_client(settings: Settings) -> LazyClient:
    return LazyClient(partial(s3_client, settings))


def payload_codec(settings: Settings, s3: Any | None = None) -> PayloadCodec:
    """How large payloads are stored: offloaded to LARGE_ITEM_BUCKET through `s3` (a lazy
    client unless one is given); without a bucket, compressed into the row or refused."""
    if not settings.large_item_bucket:
        return PayloadCodec(None)
    return PayloadCodec(S3BlobStore(settings.large_item_bucket, s3 or lazy_s3_client(settings)))


def bind_table(settings: Settings, *, reconnect: bool = False) -> None:
    """Point every row class at the configured table and endpoint (idempotent)."""
    table.bind_table(
        table.TableBinding(
            table_name=settings.table_name,
            region=settings.aws_region,
            endpoint=settings.dynamodb_endpoint,
            connect_timeout_seconds=settings.dynamodb_connect_timeout_seconds,
            read_timeout_seconds=settings.dynamodb_read_timeout_seconds,
            max_retry_attempts=settings.dynamodb_max_retry_attempts,
        ),
        reconnect=reconnect,
    )


def build_task_service(settings: Settings) -> TaskService:
    bind_table(settings)
    return TaskService(DynamoTaskRepository())


def turn_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(
        "turns",
        per_minute=settings.rate_limit_turns_per_minute,
        per_day=settings.rate_limit_turns_per_day,
    )


def api_limiter(settings: Settings) -> RateLimiter:
    return RateLimiter(
        "api",
        per_minute=settings.rate_limit_api_per_minute,
        per_day=settings.rate_limit_api_per_day,
    )


def oidc_verifier(settings: Settings) -> OidcVerifier:
    """The app's identity-token verifier; every problem with the OIDC settings at once."""
    return OidcVerifier(OidcConfig.from_settings(settings))
