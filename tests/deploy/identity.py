"""A stand-in for the front end's identity provider: an RSA key, its JWKS on loopback HTTP,
and ID tokens signed with it, so POST /session runs its real OIDC verification."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.example.test/"
AUDIENCE = "todo-web"
KID = "test-key-1"


@dataclass
class IdentityProvider:
    jwks_url: str
    key: rsa.RSAPrivateKey

    def id_token(self, user_id: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "iat": now, "exp": now + 600}
        payload.update(claims)
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": KID})


@contextmanager
def identity_provider() -> Iterator[IdentityProvider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class JwksHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body if self.path == "/jwks.json" else b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://127.0.0.1:{server.server_port}/jwks.json", key)
    finally:
        server.shutdown()
        server.server_close()
