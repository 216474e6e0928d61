"""Verify the app's own sign-in token (OIDC ID or access token) and name the user it is for.

POST /session exchanges this token for a client secret. Everything cryptographic is PyJWT's:
`jwt.PyJWKClient` caches the issuer's JWKS (an unknown `kid` triggers at most one re-fetch per
cooldown, which is how key rotation reaches us; see `auth/jwks.py` for how it is fetched and
what the cache settings mean for rotation), `jwt.decode` checks signature, issuer, audience,
expiry, `nbf` and `iat`. Refusals say little (`auth/refusals.py`); details go to the log.

Works with Amazon Cognito (ID tokens: `aud`; access tokens: `client_id` and `token_use`),
Auth0, Clerk (`azp`) and Better Auth's JWT plugin (JWKS at `/api/auth/jwks`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import jwt
from jwt import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError

from todo_assistant.auth.jwks import JwksClient
from todo_assistant.auth.refusals import token_problem
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.context import is_valid_user_id
from todo_assistant.observability import logger

# Asymmetric algorithms only: with HS* anyone holding the (public) JWKS could forge tokens.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Real ID/access tokens are a few KB; refusing larger ones early bounds the work per request.
MAX_TOKEN_CHARS = 8_192


class InvalidIdentityToken(Exception):
    """The app token is missing, malformed, expired, forged or meant for someone else."""


class IdentityProviderUnavailable(Exception):
    """The issuer's keys could not be fetched: not the caller's fault, worth a retry."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    audiences: tuple[str, ...]
    jwks_url: str
    user_claim: str
    algorithms: tuple[str, ...]
    audience_claim: str
    token_use: str | None
    jwks_cache_seconds: int
    jwks_refresh_cooldown_seconds: float
    jwks_failure_cooldown_seconds: float
    jwks_deadline_seconds: float
    leeway_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig:
        """Validate the OIDC settings; every problem is reported at start-up, at once."""
        problems: list[str] = []
        issuer = (settings.oidc_issuer or "").strip()
        if not issuer:
            problems.append("OIDC_ISSUER is not set (e.g. https://your-tenant.auth0.com/)")
        audiences = tuple(a.strip() for a in (settings.oidc_audience or "").split(",") if a.strip())
        if not audiences:
            problems.append("OIDC_AUDIENCE is not set (your app's client id or API audience)")
        algorithms = tuple(settings.oidc_algorithms)
        unsafe = [a for a in algorithms if a not in ALLOWED_ALGORITHMS]
        if unsafe:
            problems.append(
                f"OIDC_ALGORITHMS has {', '.join(unsafe)}; only asymmetric algorithms are "
                f"accepted ({', '.join(sorted(ALLOWED_ALGORITHMS))})"
            )
        elif not algorithms:
            problems.append("OIDC_ALGORITHMS is empty")
        if not settings.oidc_user_claim.strip():
            problems.append("OIDC_USER_CLAIM is empty")
        jwks_url = settings.oidc_jwks_url or (
            f"{issuer.rstrip('/')}/.well-known/jwks.json" if issuer else ""
        )
        if jwks_url and not _is_safe_jwks_url(jwks_url):
            problems.append(f"OIDC_JWKS_URL must be an https URL (got {jwks_url!r})")
        if problems:
            raise ConfigurationError("AUTH_MODE=oidc is incomplete: " + "; ".join(problems))
        audience_claim = settings.oidc_audience_claim or (
            "client_id" if settings.oidc_token_use == "access" else "aud"
        )
        return cls(
            issuer=issuer,
            audiences=audiences,
            jwks_url=jwks_url,
            user_claim=settings.oidc_user_claim.strip(),
            algorithms=algorithms,
            audience_claim=audience_claim,
            token_use=settings.oidc_token_use,
            jwks_cache_seconds=settings.oidc_jwks_cache_seconds,
            jwks_refresh_cooldown_seconds=settings.oidc_jwks_refresh_cooldown_seconds,
            jwks_failure_cooldown_seconds=settings.oidc_jwks_failure_cooldown_seconds,
            jwks_deadline_seconds=settings.oidc_jwks_deadline_seconds,
            leeway_seconds=settings.oidc_leeway_seconds,
        )


def _is_safe_jwks_url(url: str) -> bool:
    """https, or plain http to this machine only (local identity providers and tests)."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return True
    if parsed.scheme != "http" or not parsed.hostname:
        return False
    if parsed.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    user_id: str
    expires_at: int


class OidcVerifier:
    """Verifies app tokens of one issuer. Blocking (the JWKS fetch): call it off the loop."""

    def __init__(self, config: OidcConfig, jwks: JwksClient | None = None) -> None:
        self.config = config
        self._jwks = jwks or JwksClient(
            config.jwks_url,
            lifespan=config.jwks_cache_seconds,
            cooldown=config.jwks_refresh_cooldown_seconds,
            failure_cooldown=config.jwks_failure_cooldown_seconds,
            deadline_seconds=config.jwks_deadline_seconds,
        )

    def verify(self, token: str) -> VerifiedIdentity:
        config = self.config
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidIdentityToken("token too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidIdentityToken("malformed token") from error
        # Checked before any key lookup, so `none`, HS* and the like never cause a JWKS fetch.
        if header.get("alg") not in config.algorithms:
            raise InvalidIdentityToken("unexpected token algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidIdentityToken("token has no key id")
        key = self._signing_key(kid)

        check_aud = config.audience_claim == "aud"
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(config.algorithms),
                audience=list(config.audiences) if check_aud else None,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={
                    "require": ["exp", "iat", "iss"],
                    "verify_aud": check_aud,
                },
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidIdentityToken("token expired") from error
        except jwt.ImmatureSignatureError as error:
            raise InvalidIdentityToken("token not yet valid") from error
        except jwt.PyJWTError as error:
            # PyJWT's reason can name key types: the log keeps it, the caller gets less.
            logger.info("identity token refused", extra={"reason": str(error)})
            raise InvalidIdentityToken(f"invalid token: {token_problem(error)}") from error

        if not check_aud and claims.get(config.audience_claim) not in config.audiences:
            raise InvalidIdentityToken(f"invalid token: wrong {config.audience_claim}")
        if config.token_use is not None and claims.get("token_use") != config.token_use:
            raise InvalidIdentityToken(f"not an {config.token_use} token")
        return VerifiedIdentity(user_id=self._user_id(claims), expires_at=int(claims["exp"]))

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            return self._jwks.get_signing_key(kid)
        except (PyJWKClientConnectionError, PyJWKSetError) as error:
            logger.warning("identity provider keys unavailable", extra={"error": str(error)})
            raise IdentityProviderUnavailable(
                str(error), retry_after_seconds=self._jwks.retry_after_seconds()
            ) from error
        except PyJWKClientError as error:
            # Also what a broken JWKS document gives; the operator sees it in the log.
            logger.info("token signed by an unknown key", extra={"error": str(error)})
            raise InvalidIdentityToken("unknown signing key") from error

    def _user_id(self, claims: Mapping[str, Any]) -> str:
        value = claims.get(self.config.user_claim)
        if value is None:
            raise InvalidIdentityToken(f"token has no {self.config.user_claim!r} claim")
        if not is_valid_user_id(value):
            raise InvalidIdentityToken(f"the {self.config.user_claim!r} claim is not a usable id")
        return str(value)
