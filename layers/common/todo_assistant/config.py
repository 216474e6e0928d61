"""Typed configuration read from environment variables (pydantic-settings).

Local mode and Lambda differ only here: the DynamoDB endpoint, the auth mode and the model
provider. Nothing else in the code branches on where it runs.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A signing key with this prefix is a development key: only such a key may be used with
# AUTH_MODE=dev, so a deployed stack with a real key can never mint tokens for any user id.
DEV_SIGNING_KEY_PREFIX = "dev-insecure-"
# The model's history per turn (README "Configuration", agent/history_budget.py).
DEFAULT_HISTORY_TOKEN_BUDGET = 16_000
DEFAULT_HISTORY_ITEM_LIMIT = 60
DEFAULT_MAX_MESSAGE_CHARS = 8_000


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete; raised at start-up, never per request."""


def running_in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class Settings(BaseSettings):
    # An empty variable counts as unset: `sam local` passes "" for every template variable it
    # cannot resolve, and Lambda consoles keep blank values around.
    model_config = SettingsConfigDict(
        env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    # --- storage -------------------------------------------------------------------------
    table_name: str = "todo-assistant"
    dynamodb_endpoint: str | None = Field(default=None, description="DynamoDB Local / moto URL")
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    large_item_bucket: str | None = Field(
        default=None, description="S3 bucket for items too large for DynamoDB even compressed"
    )
    s3_endpoint: str | None = None
    dynamodb_connect_timeout_seconds: float = 2.0
    dynamodb_read_timeout_seconds: float = 5.0
    dynamodb_max_retry_attempts: int = 3

    # --- auth ----------------------------------------------------------------------------
    auth_mode: Literal["dev", "oidc"] = "oidc"
    token_signing_key: SecretStr | None = None
    # In AWS the key lives in Secrets Manager; the function reads it (cached) at start-up.
    token_signing_key_secret_id: str | None = None
    token_signing_key_id: str = "k1"
    token_audience: str = "todo-assistant-chatkit"
    token_issuer: str = "todo-assistant-session"
    client_secret_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_grace_seconds: int = Field(default=300, ge=0, le=86_400)
    # Refreshing never stretches a sign-in past this; then the app's token is needed again.
    session_max_age_seconds: int = Field(default=43_200, ge=60, le=2_592_000)

    # --- sign-in with the app's identity provider (AUTH_MODE=oidc); see auth/oidc.py --------
    oidc_issuer: str | None = None
    # Comma-separated when several app clients (web, mobile) share one backend.
    oidc_audience: str | None = None
    # Defaults to <issuer>/.well-known/jwks.json (Cognito, Auth0, Clerk).
    oidc_jwks_url: str | None = None
    oidc_user_claim: str = "sub"
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"]
    )
    # Cognito puts `token_use` ("id" | "access") in its tokens; access tokens carry the app
    # client in `client_id` instead of `aud`, Clerk session tokens in `azp`.
    oidc_token_use: Literal["id", "access"] | None = None
    oidc_audience_claim: Literal["aud", "client_id", "azp"] | None = None
    # A key the provider removed stays trusted up to this long (the cached key set's life).
    oidc_jwks_cache_seconds: int = Field(default=3_600, ge=1, le=86_400)
    # At most one JWKS re-fetch per this many seconds for tokens with an unknown `kid`: a key
    # the provider just published is refused for up to this long.
    oidc_jwks_refresh_cooldown_seconds: float = Field(default=30.0, ge=0, le=3_600)
    # After a failed JWKS fetch the provider is not asked again for this long (503 meanwhile).
    oidc_jwks_failure_cooldown_seconds: float = Field(default=5.0, ge=0, le=300)
    # Overall time allowed for one JWKS fetch (not per read).
    oidc_jwks_deadline_seconds: float = Field(default=4.0, gt=0, le=20)
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)

    # --- OpenAI-hosted ChatKit (an Agent Builder workflow): POST /session creates its sessions
    chatkit_workflow_id: str | None = None

    # --- model ---------------------------------------------------------------------------
    model_provider: Literal["auto", "openai", "litellm", "local"] = "auto"
    openai_api_key: SecretStr | None = None
    # In AWS the API key lives in Secrets Manager (name or ARN); read once at init.
    openai_api_key_secret_id: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4.1-mini"
    openai_api: Literal["responses", "chat_completions"] = "responses"
    litellm_model: str = "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"
    # Requests to the model (llm/request_settings.py): the OpenAI client's own bounded
    # retries (it honours Retry-After), the per-attempt timeout, whether OpenAI keeps the
    # response (this backend keeps the history itself), and a cap on output tokens.
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    openai_timeout_seconds: float = Field(default=60.0, gt=0, le=900)
    openai_store: bool = False
    # Each model answer's output tokens, every provider (ModelSettings.max_tokens;
    # max_output_tokens on the Responses API).
    max_output_tokens: int = Field(default=2_048, ge=16, le=128_000)
    # Key of the per-user `safety_identifier` (an HMAC of the user id); defaults to the
    # client-secret signing key. Set it to keep identifiers stable across key rotations.
    safety_identifier_key: SecretStr | None = None
    local_model_delay_ms: int = Field(default=0, ge=0, le=5_000)
    # Models a user may pick in the composer (JSON list or comma-separated); the configured
    # model is always allowed and is the default.
    allowed_models: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- attachments (bytes in LARGE_ITEM_BUCKET) ------------------------------------------
    # Unset: on wherever LARGE_ITEM_BUCKET is set. The session function (no bucket) sets it
    # for GET /config; false turns uploads off everywhere.
    attachments_enabled: bool | None = None
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=5 * 1024**3)
    # What each turn sends the model: the newest whole turns within this many tokens
    # (agent/history_budget.py), chosen among the newest HISTORY_ITEM_LIMIT items, which the
    # turn reads with its thread in one Query.
    history_token_budget: int = Field(default=DEFAULT_HISTORY_TOKEN_BUDGET, ge=1_000, le=2_000_000)
    history_item_limit: int = Field(default=DEFAULT_HISTORY_ITEM_LIMIT, ge=2, le=500)

    # --- per-user limits and data lifecycle (limits.py, lifecycle/) ------------------------
    # Fixed windows counted in DynamoDB; 0 turns a limit off.
    rate_limit_turns_per_minute: int = Field(default=20, ge=0)
    rate_limit_turns_per_day: int = Field(default=500, ge=0)
    rate_limit_api_per_minute: int = Field(default=120, ge=0)
    rate_limit_api_per_day: int = Field(default=5_000, ge=0)
    max_message_chars: int = Field(default=DEFAULT_MAX_MESSAGE_CHARS, ge=1)
    max_tool_calls_per_turn: int = Field(default=8, ge=1, le=100)
    # A turn stops cleanly (error event, allow_retry) before Lambda would kill it: by default
    # the function's timeout (FUNCTION_TIMEOUT_SECONDS, set by the template) minus a margin.
    turn_timeout_seconds: float | None = Field(default=None, gt=0)
    function_timeout_seconds: float | None = Field(default=None, gt=0)
    turn_deadline_margin_seconds: float = Field(default=10.0, ge=0)
    # How often a streaming turn reads its thread's stop request (chat/stop.py): Stop takes
    # effect within about this long; each read is one strongly consistent GetItem.
    stop_check_seconds: float = Field(default=0.5, ge=0.05, le=10)
    # Threads untouched this long expire (DynamoDB TTL); 0 keeps them forever.
    thread_retention_days: int = Field(default=0, ge=0, le=36_500)
    export_link_seconds: int = Field(default=900, ge=60, le=43_200)

    # --- http ----------------------------------------------------------------------------
    max_request_bytes: int = Field(default=1_048_576, ge=1_024)
    cors_allow_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"

    @field_validator("oidc_algorithms", "allowed_models", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        # "RS256,ES256" as well as a JSON list, so the variable reads naturally in a template.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def resolved_model_provider(self) -> Literal["openai", "litellm", "local"]:
        if self.model_provider != "auto":
            return self.model_provider
        return "openai" if self.openai_api_key or self.openai_api_key_secret_id else "local"

    @property
    def default_model(self) -> str:
        return (
            self.litellm_model if self.resolved_model_provider == "litellm" else self.openai_model
        )

    @property
    def allowed_model_ids(self) -> list[str]:
        """The composer's model list: the default first, then ALLOWED_MODELS."""
        return list(dict.fromkeys([self.default_model, *self.allowed_models]))

    @property
    def turn_deadline_seconds(self) -> float | None:
        """How long a turn may run: explicit, else the function timeout minus the margin."""
        if self.turn_timeout_seconds is not None:
            return self.turn_timeout_seconds
        if self.function_timeout_seconds is not None:
            return max(self.function_timeout_seconds - self.turn_deadline_margin_seconds, 1.0)
        return None

    def signing_key(self) -> str:
        if self.token_signing_key is None:
            raise ConfigurationError(
                "TOKEN_SIGNING_KEY is not set: the client-secret signing key is required"
            )
        # Its length is checked once, with every key of a key set (auth/client_secrets.py).
        return self.token_signing_key.get_secret_value()

    def check_auth_mode(self) -> None:
        """Refuse dev identity mode anywhere it could mint tokens for arbitrary users."""
        if self.auth_mode != "dev":
            return
        if running_in_lambda():
            raise ConfigurationError("AUTH_MODE=dev is refused in AWS Lambda; use AUTH_MODE=oidc")
        if not self.signing_key().startswith(DEV_SIGNING_KEY_PREFIX):
            raise ConfigurationError(
                f"AUTH_MODE=dev needs a development signing key (prefix "
                f"{DEV_SIGNING_KEY_PREFIX!r}); refusing to mint dev tokens with a real key"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
