"""What every model request carries besides the conversation: storage, limits, user identity.

- `store` is off by default: this backend keeps the history itself, so OpenAI need not.
- `max_tokens` caps each answer (`max_output_tokens` on the Responses API).
- `safety_identifier` lets OpenAI tell users apart for abuse detection without learning who
  they are: an HMAC of the user id under a server-side key, stable per user, never the id.
- LiteLLM providers (Bedrock...) get only the output cap: the other fields are OpenAI's.

The instructions and tools are the fixed prefix of every request (see todo_agent.py), so
OpenAI's prompt caching can reuse them from turn to turn.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from agents import ModelSettings

SAFETY_ID_PREFIX = "u_"


def safety_identifier(key: bytes, user_id: str) -> str:
    digest = hmac.new(key, f"safety-identifier:{user_id}".encode(), hashlib.sha256).hexdigest()
    return SAFETY_ID_PREFIX + digest[:32]


@dataclass(frozen=True)
class RequestSettings:
    """Builds the `ModelSettings` of one user's turn."""

    max_output_tokens: int
    store: bool | None = None
    identity_key: bytes | None = None
    include_usage: bool | None = None

    def for_user(self, user_id: str) -> ModelSettings:
        extra_args = (
            {"safety_identifier": safety_identifier(self.identity_key, user_id)}
            if self.identity_key is not None
            else None
        )
        return ModelSettings(
            max_tokens=self.max_output_tokens,
            store=self.store,
            include_usage=self.include_usage,
            extra_args=extra_args,
        )
