"""Sign-in while the identity provider misbehaves: a broken, slow or failing JWKS is the
provider's fault (503 + Retry-After), never a 500, never a long wait, and a flood of tokens
with unknown key ids cannot make every sign-in hit the failing provider. Refusals say little.

Each test gets its own provider and session app: the attacks change how the provider answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tests.support.oidc import IdentityProvider, SigningKey, oidc_overrides, run_identity_provider
from tests.support.security import CaseCounter
from tests.support.settings import make_settings
from todo_assistant.wiring.session import build_session_app
from todo_assistant_dev.live_server import live_server

pytestmark = pytest.mark.e2e


@dataclass
class SignIn:
    idp: IdentityProvider
    base: str

    def post(self, token: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}/session", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@pytest.fixture
def sign_in(moto_endpoint: str) -> Iterator[SignIn]:
    with run_identity_provider() as idp:
        settings = make_settings(
            moto_endpoint,
            moto_endpoint,
            **oidc_overrides(
                idp, oidc_jwks_deadline_seconds=0.5, oidc_jwks_failure_cooldown_seconds=30
            ),
        )
        with live_server(build_session_app(settings)) as base:
            yield SignIn(idp, base)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "identity_provider_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert "client_secret" not in response.text


@pytest.mark.parametrize("misbehaving", ["html", "list", "no keys", "drip"])
def test_a_broken_or_dripping_key_set_is_a_503(sign_in, cases: CaseCounter, misbehaving):
    sign_in.idp.misbehaving = misbehaving
    sign_in.idp.drip_seconds = 0.05
    cases.tried()
    assert_unavailable(sign_in.post(sign_in.idp.token("alice")))


def test_unknown_kids_during_an_outage_ask_the_provider_once(sign_in, cases: CaseCounter):
    idp = sign_in.idp
    assert sign_in.post(idp.token("alice")).status_code == 200
    idp.failing = True
    before = idp.jwks_requests
    for _ in range(20):
        cases.tried()
        response = sign_in.post(idp.token("mallory", key=SigningKey.generate("ES256")))
        assert response.status_code in (401, 503), response.text
    # The refresh cooldown (after the good fetch) and the failure cooldown (after a failed
    # one) together: at most one request reached the failing provider.
    assert idp.jwks_requests - before <= 1
    # Users whose key is cached still sign in meanwhile.
    assert sign_in.post(idp.token("alice")).status_code == 200


def test_a_failing_provider_is_not_asked_again_within_the_cooldown(sign_in, cases: CaseCounter):
    idp = sign_in.idp
    idp.failing = True
    for _ in range(10):
        cases.tried()
        assert_unavailable(sign_in.post(idp.token("alice")))
    assert idp.jwks_requests == 1


SAFE_REASONS = {
    "malformed token",
    "unexpected token algorithm",
    "token has no key id",
    "unknown signing key",
    "token expired",
    "token not yet valid",
    "invalid token: signature verification failed",
    "invalid token: rejected",
    "invalid token: wrong audience",
    "invalid token: wrong issuer",
    "invalid token: malformed claims",
}


def test_refusals_use_fixed_words(sign_in, cases: CaseCounter):
    idp = sign_in.idp
    claims = idp.claims("mallory")
    tokens = {
        # PyJWT would say the key's algorithm does not match (naming the key type).
        "RS256 over the EC key": jwt.encode(
            claims, idp.rsa.private, algorithm="RS256", headers={"kid": idp.ec.kid}
        ),
        "ES256 over the RSA key": jwt.encode(
            claims, idp.ec.private, algorithm="ES256", headers={"kid": idp.rsa.kid}
        ),
        "rogue key under a published kid": idp.token(
            "mallory", key=SigningKey.generate("RS256", kid=idp.rsa.kid)
        ),
        "sub not a string": idp.token(sub=42),
        "audience list of strangers": idp.token("mallory", aud=["x", "y"]),
    }
    for name, token in tokens.items():
        cases.tried()
        response = sign_in.post(token)
        assert response.status_code == 401, name
        message = response.json()["message"]
        assert message.startswith("Invalid identity token: "), message
        assert message.removeprefix("Invalid identity token: ").rstrip(".") in SAFE_REASONS, (
            name,
            message,
        )
