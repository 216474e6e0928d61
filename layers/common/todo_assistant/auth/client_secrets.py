"""Mint and verify client secrets (PyJWT, HS256, with a `kid` so keys can rotate).

A client secret is what the browser sends as `Authorization: Bearer ...` to /chatkit and
/tasks. Its `sub` is the only source of the user id anywhere in the backend.

Rotation without logging anyone out: the key set names one `current` key (signs) and any
number of older keys (still verify), so a secret signed with the previous key stays valid
until it expires; removing that key later makes it fail.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import jwt

from todo_assistant.auth.refusals import token_problem
from todo_assistant.context import is_valid_user_id
from todo_assistant.observability import logger

ALGORITHM = "HS256"
CLIENT_SECRET_TYPE = "chatkit-client-secret"
MIN_KEY_CHARS = 32


@dataclass(frozen=True, slots=True, eq=False)
class SigningKeys:
    """Key id -> HMAC key; `current_kid` signs, every listed key verifies."""

    keys: Mapping[str, str]
    current_kid: str

    def __post_init__(self) -> None:
        if self.current_kid not in self.keys:
            raise ValueError(
                f"signing key id {self.current_kid!r} is not among the configured keys"
            )
        for kid, key in self.keys.items():
            if not kid or not isinstance(key, str) or len(key) < MIN_KEY_CHARS:
                raise ValueError(
                    f"signing key {kid!r} must be a string of at least {MIN_KEY_CHARS} characters"
                )


@lru_cache(maxsize=8)
def parse_signing_keys(value: str, default_kid: str) -> SigningKeys:
    """A secret value: JSON `{"current": "k2", "keys": {"k1": "...", "k2": "..."}}`, or a plain
    string (one key, id `default_kid`). Cached, so a value read per request parses once."""
    if not value.lstrip().startswith("{"):
        return SigningKeys({default_kid: value}, default_kid)
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError("the signing key set is not valid JSON") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    current = data.get("current") if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not isinstance(current, str):
        raise ValueError('the signing key set needs "current" (a key id) and "keys" (an object)')
    return SigningKeys(dict(keys), current)


KeySource = Callable[[], SigningKeys]


def _is_timestamp(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
    # When the user signed in (POST /session); refreshes carry it forward unchanged.
    auth_time: int = 0


class ClientSecretService:
    """`keys` maps key id -> secret and `current_kid` signs; or `keys` is a source of
    `SigningKeys` asked on every use (cheap: the Secrets Manager value is cached), so a
    rotation reaches running functions without a deployment."""

    def __init__(
        self,
        keys: Mapping[str, str] | KeySource,
        current_kid: str | None = None,
        *,
        audience: str,
        issuer: str,
        ttl_seconds: int,
        refresh_grace_seconds: int = 0,
        leeway_seconds: int = 5,
        max_session_seconds: int | None = None,
    ) -> None:
        if callable(keys):
            self._source: KeySource = keys
            keys()  # an unusable key set fails now, at start-up
        else:
            fixed = SigningKeys(dict(keys), current_kid or "")
            self._source = lambda: fixed
        self.audience = audience
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self.refresh_grace_seconds = refresh_grace_seconds
        self.leeway_seconds = leeway_seconds
        self.max_session_seconds = max_session_seconds

    def issue(
        self, user_id: str, *, now: float | None = None, auth_time: int | None = None
    ) -> IssuedSecret:
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
            "auth_time": issued_at if auth_time is None else auth_time,
        }
        signing = self._source()
        token = jwt.encode(
            claims,
            signing.keys[signing.current_kid],
            algorithm=ALGORITHM,
            headers={"kid": signing.current_kid},
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
        key = self._source().keys.get(str(header.get("kid", "")))
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
            logger.info("client secret refused", extra={"reason": str(error)})
            raise InvalidClientSecret(f"invalid token: {token_problem(error)}") from error
        if claims.get("typ") != CLIENT_SECRET_TYPE:
            raise InvalidClientSecret("not a client secret")
        # Checked again on every request: the signature proves who minted it, and a user id
        # outside the key alphabet must never reach a DynamoDB key.
        if not is_valid_user_id(claims["sub"]):
            raise InvalidClientSecret("invalid token: unusable subject")
        issued_at, expires_at = claims["iat"], claims["exp"]
        auth_time = claims.get("auth_time", issued_at)
        if not all(_is_timestamp(value) for value in (issued_at, expires_at, auth_time)):
            raise InvalidClientSecret("invalid token: malformed claims")
        # Our secrets live `ttl_seconds`; one minted with a far-off expiry is not ours to honour.
        if expires_at - issued_at > self.ttl_seconds + self.leeway_seconds:
            raise InvalidClientSecret("invalid token: lifetime too long")
        if auth_time > issued_at + self.leeway_seconds:
            raise InvalidClientSecret("invalid token: malformed claims")
        return VerifiedSecret(
            user_id=claims["sub"],
            expires_at=expires_at,
            token_id=str(claims["jti"]),
            auth_time=auth_time,
        )

    def refresh(self, token: str, *, now: float | None = None) -> IssuedSecret:
        """A new secret for the user of a valid or recently expired one.

        Refreshing never extends the sign-in itself: past `max_session_seconds` since the
        user signed in, the front end must present the app's token again, so a user removed
        from the identity provider (or a stolen secret) cannot be kept alive by refreshing.
        """
        current = self.verify(token, allow_expired_for=self.refresh_grace_seconds)
        moment = now if now is not None else time.time()
        if self.max_session_seconds is not None and (
            moment - current.auth_time > self.max_session_seconds
        ):
            raise InvalidClientSecret("sign-in too old, sign in again")
        return self.issue(current.user_id, now=now, auth_time=current.auth_time)
