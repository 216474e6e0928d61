"""Secret values: from the environment, or from Secrets Manager when an id is configured.

Low level on purpose (settings and Powertools only), so every part that needs a secret (the
model provider, hosted sessions, client-secret keys) reads it the same way without depending
on how the process is wired.
"""

from __future__ import annotations

from pydantic import SecretStr

from todo_assistant.config import Settings


def read_secret(secret_id: str) -> str:
    """A Secrets Manager string (name or ARN), cached by Powertools for 5 minutes."""
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(secret_id, max_age=300)
    return value.decode() if isinstance(value, bytes) else str(value)


def openai_api_key(settings: Settings) -> SecretStr | None:
    """The OpenAI key from the environment, else from Secrets Manager when configured."""
    if settings.openai_api_key is None and settings.openai_api_key_secret_id:
        return SecretStr(read_secret(settings.openai_api_key_secret_id).strip())
    return settings.openai_api_key
