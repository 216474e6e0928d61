"""Hand-made client secrets for tests that attack the token checks."""

from __future__ import annotations

import time

import jwt


def client_secret_claims(sub: str, **overrides: object) -> dict[str, object]:
    """The claims of a genuine client secret, with `overrides` applied (None removes a claim)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": sub,
        "aud": "todo-assistant-chatkit",
        "iss": "todo-assistant-session",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "x",
        "typ": "chatkit-client-secret",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def forge_client_secret(key: str, sub: str, kid: str = "k1", **overrides: object) -> str:
    return jwt.encode(
        client_secret_claims(sub, **overrides), key, algorithm="HS256", headers={"kid": kid}
    )
