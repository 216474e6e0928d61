"""A small identity provider on loopback: real RSA and EC keys, a JWKS endpoint, token minting.

It stands in for Cognito / Auth0 / Clerk / Better Auth: the backend fetches its JWKS over
HTTP exactly as it would in AWS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from todo_assistant_dev.live_server import live_server

AUDIENCE = "todo-web-client"
# A real (non-development) client-secret key: OIDC stacks run like a deployed one.
SIGNING_KEY = "prod-like-client-secret-signing-key-0123456789abcdef"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @classmethod
    def generate(cls, alg: str, kid: str | None = None) -> SigningKey:
        private: Any
        if alg.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(alg)
        return cls(kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg, private)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg.startswith(("RS", "PS")):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg == "ES256":
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with(secret: bytes, claims: dict[str, Any], headers: dict[str, Any]) -> str:
    """HS256 by hand: PyJWT refuses to HMAC with a public key, which is what an attacker does."""
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(signature)}"


@dataclass
class IdentityProvider:
    rsa: SigningKey = field(default_factory=lambda: SigningKey.generate("RS256"))
    ec: SigningKey = field(default_factory=lambda: SigningKey.generate("ES256"))
    issuer: str = ""
    published: list[SigningKey] = field(default_factory=list)
    jwks_requests: int = 0
    failing: bool = False
    # How a misbehaving provider answers the JWKS request (with status 200):
    # "html" an error page, "list" JSON that is not an object, "no keys" an empty key set,
    # "drip" the real key set one byte per `drip_seconds`.
    misbehaving: Literal["html", "list", "no keys", "drip"] | None = None
    drip_seconds: float = 1.0

    def __post_init__(self) -> None:
        self.published = [self.rsa, self.ec]

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    def app(self) -> Starlette:
        async def jwks(request: Request) -> Response:
            self.jwks_requests += 1
            if self.failing:
                return Response("upstream down", status_code=503)
            document = {"keys": [key.public_jwk() for key in self.published]}
            if self.misbehaving == "html":
                return Response("<html>Sign-in is down</html>", media_type="text/html")
            if self.misbehaving == "list":
                return JSONResponse([document])
            if self.misbehaving == "no keys":
                return JSONResponse({"keys": []})
            if self.misbehaving == "drip":
                return StreamingResponse(self._drip(json.dumps(document).encode()))
            return JSONResponse(document)

        return Starlette(routes=[Route("/.well-known/jwks.json", jwks)])

    async def _drip(self, body: bytes) -> Any:
        for index in range(len(body)):
            yield body[index : index + 1]
            await asyncio.sleep(self.drip_seconds)

    def claims(self, user: str | None = "alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 3_600,
            "email": f"{user}@example.com",
        }
        if user is not None:
            claims["sub"] = user
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        user: str | None = "alice",
        *,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key = key or self.rsa
        return jwt.encode(
            self.claims(user, **claims),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )


@contextmanager
def run_identity_provider() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with live_server(provider.app()) as base_url:
        provider.issuer = base_url
        yield provider


def oidc_overrides(provider: IdentityProvider, **overrides: object) -> dict[str, object]:
    """Settings for AUTH_MODE=oidc against `provider` (pass to `make_settings`)."""
    values: dict[str, object] = {
        "auth_mode": "oidc",
        "oidc_issuer": provider.issuer,
        "oidc_audience": AUDIENCE,
        "token_signing_key": SIGNING_KEY,
    }
    values.update(overrides)
    return values
