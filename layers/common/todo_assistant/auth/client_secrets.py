"""Mint and verify client secrets (PyJWT, HS256, with a `kid` so keys can rotate).

A client secret is what the browser sends as `Authorization: Bearer ...` to /chatkit and
/tasks. Its `sub` is the only source of the user id anywhere in the backend.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
CLIENT_SECRET_TYPE = "chatkit-client-secret"


class InvalidClientSecret(Exception):
    """The bearer token is missing, malformed, expired, tampered with or not ours."""


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    client_secret: str
    expires_at: int
    user_id: str


@dataclass(frozen=True, slots=True)
class VerifiedSecret:
    user_id: str
    expires_at: int
    token_id: str


class ClientSecretService:
    """`keys` maps key id -> secret; `current_kid` signs, every listed key verifies."""

    def __init__(
        self,
        keys: Mapping[str, str],
        current_kid: str,
        *,
        audience: str,
        issuer: str,
        ttl_seconds: int,
        refresh_grace_seconds: int = 0,
        leeway_seconds: int = 5,
    ) -> None:
        if current_kid not in keys:
            raise ValueError(f"signing key id {current_kid!r} is not among the configured keys")
        self._keys = dict(keys)
        self._kid = current_kid
        self.audience = audience
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self.refresh_grace_seconds = refresh_grace_seconds
        self.leeway_seconds = leeway_seconds

    def issue(self, user_id: str, *, now: float | None = None) -> IssuedSecret:
        if not user_id or len(user_id) > 256:
            raise ValueError("user id must be 1-256 characters")
        issued_at = int(now if now is not None else time.time())
        expires_at = issued_at + self.ttl_seconds
        claims = {
            "sub": user_id,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
            "typ": CLIENT_SECRET_TYPE,
        }
        token = jwt.encode(
            claims, self._keys[self._kid], algorithm=ALGORITHM, headers={"kid": self._kid}
        )
        return IssuedSecret(client_secret=token, expires_at=expires_at, user_id=user_id)

    def verify(self, token: str, *, allow_expired_for: int = 0) -> VerifiedSecret:
        """Verify signature, audience, issuer, times and type; return who it names.

        `allow_expired_for` extends the expiry check (refresh accepts a recently expired
        secret); the signature is always checked in full.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidClientSecret("malformed token") from error
        if header.get("alg") != ALGORITHM:
            raise InvalidClientSecret("unexpected token algorithm")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise InvalidClientSecret("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds + allow_expired_for,
                options={"require": ["sub", "aud", "iss", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidClientSecret("token expired") from error
        except jwt.PyJWTError as error:
            raise InvalidClientSecret(f"invalid token: {error}") from error
        if claims.get("typ") != CLIENT_SECRET_TYPE or not isinstance(claims["sub"], str):
            raise InvalidClientSecret("not a client secret")
        return VerifiedSecret(
            user_id=claims["sub"], expires_at=int(claims["exp"]), token_id=str(claims["jti"])
        )
