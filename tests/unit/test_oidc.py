"""OIDC sign-in tokens: verified with PyJWT against a JWKS served on loopback (real keys)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from tests.support.oidc import (
    AUDIENCE,
    IdentityProvider,
    SigningKey,
    hs256_with,
    oidc_overrides,
    run_identity_provider,
)
from tests.support.settings import make_settings
from todo_assistant.auth.oidc import (
    IdentityProviderUnavailable,
    InvalidIdentityToken,
    OidcConfig,
    OidcVerifier,
)
from todo_assistant.config import ConfigurationError, Settings
from todo_assistant.wiring.session import build_session_app
from todo_assistant.wiring.shared import oidc_verifier
from todo_assistant_dev.live_server import live_server

NOWHERE = "http://127.0.0.1:1"


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    with run_identity_provider() as provider:
        yield provider


def settings_for(idp: IdentityProvider, **overrides: object) -> Settings:
    return make_settings(NOWHERE, NOWHERE, **oidc_overrides(idp, **overrides))


def verifier_for(idp: IdentityProvider, **overrides: object) -> OidcVerifier:
    return oidc_verifier(settings_for(idp, **overrides))


def refused(verifier: OidcVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidIdentityToken, match=reason):
        verifier.verify(token)


def test_rs256_and_es256_tokens_name_their_user(idp):
    verifier = verifier_for(idp)
    assert verifier.verify(idp.token("alice")).user_id == "alice"
    assert verifier.verify(idp.token("auth0|5f7c8ec7", key=idp.ec)).user_id == "auth0|5f7c8ec7"
    # One JWKS fetch serves every later verification (cached).
    assert idp.jwks_requests == 1


def test_user_claim_is_configurable_and_validated(idp):
    verifier = verifier_for(idp, oidc_user_claim="email")
    assert verifier.verify(idp.token("bob")).user_id == "bob@example.com"
    refused(verifier, idp.token("bob", email=None), "no 'email' claim")
    strict = verifier_for(idp)
    refused(strict, idp.token(None), "no 'sub' claim")
    refused(strict, idp.token("has space"), "not a usable id")
    refused(strict, idp.token("x" * 129), "not a usable id")
    refused(strict, idp.token("USER#other"), "not a usable id")
    refused(strict, idp.token(sub=42), "malformed claims")


# Times are computed when the tests are collected: future ones lie a day ahead, so a long
# run cannot catch up with them.
@pytest.mark.parametrize(
    ("claims", "reason"),
    # Built when the test runs, not at collection: a long suite must not age them.
    [
        # Times are offsets from when the test runs (not from collection, which can be
        # long before on a slow machine).
        ({"exp": -120}, "expired"),
        ({"nbf": 600}, "not yet valid"),
        ({"iat": 600}, "not yet valid"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "some-other-app"}, "(?i)audience"),
        ({"aud": None}, "aud"),
        ({"exp": None}, "exp"),
        ({"iat": None}, "iat"),
    ],
)
def test_claims_are_checked(idp, claims, reason):
    now = int(time.time())
    claims = {
        name: now + value if name in ("exp", "nbf", "iat") and value is not None else value
        for name, value in claims.items()
    }
    refused(verifier_for(idp), idp.token("mallory", **claims), reason)


def test_leeway_absorbs_small_clock_skew(idp):
    verifier = verifier_for(idp, oidc_leeway_seconds=30)
    assert verifier.verify(idp.token("alice", exp=int(time.time()) - 10)).user_id == "alice"


def test_forged_and_confused_tokens_are_refused(idp):
    verifier = verifier_for(idp)
    claims = idp.claims("mallory")
    # alg none, with and without a known kid.
    refused(verifier, jwt.encode(claims, None, algorithm=None), "algorithm")
    none = jwt.encode(claims, None, algorithm=None, headers={"kid": idp.rsa.kid})
    refused(verifier, none, "algorithm")
    # HS256 "signed" with the provider's public key (PEM and JWK forms): the classic confusion.
    refused(verifier, hs256_with(idp.rsa.public_pem(), claims, {"kid": idp.rsa.kid}), "algorithm")
    jwk_text = json.dumps(idp.rsa.public_jwk()).encode()
    refused(verifier, hs256_with(jwk_text, claims, {"kid": idp.rsa.kid}), "algorithm")
    # A valid signature by a key the provider never published, under a published kid.
    rogue = SigningKey.generate("RS256", kid=idp.rsa.kid)
    refused(verifier, idp.token("mallory", key=rogue), "signature verification failed")
    # ... and under an unknown kid.
    refused(verifier, idp.token("mallory", key=SigningKey.generate("RS256")), "unknown signing key")
    # RS256 header over the EC key's kid: the key decides the algorithm, not the header.
    mixed = jwt.encode(claims, idp.rsa.private, algorithm="RS256", headers={"kid": idp.ec.kid})
    refused(verifier, mixed, "^invalid token: rejected$")
    # No kid at all; garbage; an oversized token.
    refused(verifier, jwt.encode(claims, idp.rsa.private, algorithm="RS256"), "no key id")
    refused(verifier, "not.a.jwt", "malformed")
    refused(verifier, "x" * 9_000, "too large")
    # A tampered payload.
    head, _, sig = idp.token("alice").split(".")
    body = jwt.utils.base64url_encode(b'{"sub":"mallory"}').decode()
    refused(verifier, f"{head}.{body}.{sig}", "Signature|invalid")


def test_jku_and_x5u_headers_are_never_followed(idp):
    with run_identity_provider() as attacker:
        token = attacker.token(
            "mallory",
            iss=idp.issuer,
            headers={"jku": attacker.jwks_url, "x5u": attacker.jwks_url},
        )
        refused(verifier_for(idp), token, "unknown signing key")
        assert attacker.jwks_requests == 0


def test_algorithms_outside_the_allowed_list_are_refused(idp):
    eddsa = SigningKey.generate("EdDSA")
    idp.published.append(eddsa)
    token = idp.token("alice", key=eddsa)
    refused(verifier_for(idp), token, "algorithm")
    # Better Auth's default: opt in explicitly.
    assert verifier_for(idp, oidc_algorithms="EdDSA").verify(token).user_id == "alice"
    refused(verifier_for(idp, oidc_algorithms="ES256"), idp.token("alice"), "algorithm")


def test_key_rotation_new_kid_is_fetched_once_per_cooldown(idp):
    # Keys and tokens are made up front: generating them can outlast the short cooldown on a
    # busy machine, and the checks below must run within it.
    rotated = SigningKey.generate("RS256")
    token = idp.token("alice", key=rotated)
    burst = [idp.token("mallory", key=SigningKey.generate("ES256")) for _ in range(20)]
    verifier = verifier_for(idp, oidc_jwks_refresh_cooldown_seconds=0.5)
    assert verifier.verify(idp.token("alice")).user_id == "alice"
    assert idp.jwks_requests == 1

    idp.published.append(rotated)
    # Right after a fetch the cooldown holds: an unknown kid does not hammer the provider.
    refused(verifier, token, "unknown signing key")
    assert idp.jwks_requests == 1
    time.sleep(0.55)
    assert verifier.verify(token).user_id == "alice"
    assert idp.jwks_requests == 2

    # A burst of tokens with unknown kids costs at most one more fetch.
    time.sleep(0.55)
    for unknown in burst:
        refused(verifier, unknown, "unknown")
    assert idp.jwks_requests == 3
    # The old key still verifies while it is published (cached set).
    assert verifier.verify(idp.token("alice")).user_id == "alice"


def test_jwks_is_cached_for_its_lifetime_then_refetched(idp):
    verifier = verifier_for(idp, oidc_jwks_cache_seconds=1)
    for _ in range(5):
        verifier.verify(idp.token("alice"))
    assert idp.jwks_requests == 1
    time.sleep(1.1)
    verifier.verify(idp.token("alice"))
    assert idp.jwks_requests == 2


def test_provider_outage_is_not_the_callers_fault(idp):
    idp.failing = True
    with pytest.raises(IdentityProviderUnavailable):
        verifier_for(idp).verify(idp.token("alice"))
    # Nothing listens here at all.
    down = verifier_for(idp, oidc_jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(IdentityProviderUnavailable):
        down.verify(idp.token("alice"))


def test_cognito_id_and_access_tokens(idp):
    client_id = "5d0p1uqk3n6example"
    id_verifier = verifier_for(idp, oidc_audience=client_id, oidc_token_use="id")
    id_token = idp.token("7c1e1f6a-1111-4e5e-9a0c-5a0e2d1f3b4c", aud=client_id, token_use="id")
    assert id_verifier.verify(id_token).user_id.startswith("7c1e1f6a")
    access_token = idp.token("u-1", aud=None, client_id=client_id, token_use="access")
    refused(id_verifier, access_token, "aud")

    access_verifier = verifier_for(idp, oidc_audience=client_id, oidc_token_use="access")
    assert access_verifier.config.audience_claim == "client_id"
    assert access_verifier.verify(access_token).user_id == "u-1"
    refused(access_verifier, id_token, "client_id")
    wrong_client = idp.token("u-1", aud=None, client_id="other-client", token_use="access")
    refused(access_verifier, wrong_client, "client_id")
    id_as_access = idp.token("u-1", aud=None, client_id=client_id, token_use="id")
    refused(access_verifier, id_as_access, "not an access token")


def test_clerk_authorized_party_and_several_audiences(idp):
    clerk = verifier_for(idp, oidc_audience="https://app.example.com", oidc_audience_claim="azp")
    assert clerk.verify(idp.token("user_2abc", aud=None, azp="https://app.example.com")).user_id
    refused(clerk, idp.token("user_2abc", aud=None, azp="https://evil.example"), "azp")
    both = verifier_for(idp, oidc_audience=f"{AUDIENCE}, mobile-client")
    assert both.verify(idp.token("a", aud="mobile-client")).user_id == "a"
    assert both.verify(idp.token("a", aud=["x", AUDIENCE])).user_id == "a"


def test_trailing_slash_issuer_and_default_jwks_url(idp):
    config = OidcConfig.from_settings(settings_for(idp, oidc_issuer="https://tenant.auth0.com/"))
    assert config.jwks_url == "https://tenant.auth0.com/.well-known/jwks.json"
    assert config.issuer == "https://tenant.auth0.com/"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"oidc_issuer": None}, "OIDC_ISSUER is not set"),
        ({"oidc_audience": None}, "OIDC_AUDIENCE is not set"),
        ({"oidc_audience": " , "}, "OIDC_AUDIENCE is not set"),
        ({"oidc_algorithms": "RS256,HS256"}, "HS256"),
        ({"oidc_algorithms": '["none"]'}, "none"),
        ({"oidc_algorithms": ""}, "OIDC_ALGORITHMS is empty"),
        ({"oidc_user_claim": " "}, "OIDC_USER_CLAIM is empty"),
        ({"oidc_jwks_url": "http://idp.example.com/jwks"}, "https"),
        ({"oidc_jwks_url": "file:///etc/passwd"}, "https"),
    ],
)
def test_incomplete_or_unsafe_oidc_settings_fail_at_start_up(idp, overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        build_session_app(settings_for(idp, **overrides))


def test_oidc_is_the_default_and_refuses_to_start_unconfigured(monkeypatch):
    for name in ("AUTH_MODE", "OIDC_ISSUER", "OIDC_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOKEN_SIGNING_KEY", "k" * 40)
    settings = Settings()
    assert settings.auth_mode == "oidc"
    with pytest.raises(ConfigurationError, match="AUTH_MODE=oidc is incomplete"):
        build_session_app(settings)


def test_settings_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OIDC_ALGORITHMS", "RS256, ES256 ,EdDSA")
    monkeypatch.setenv("OIDC_TOKEN_USE", "access")
    settings = Settings()
    assert settings.oidc_algorithms == ["RS256", "ES256", "EdDSA"]
    monkeypatch.setenv("OIDC_ALGORITHMS", '["ES256"]')
    assert Settings().oidc_algorithms == ["ES256"]
    monkeypatch.setenv("OIDC_TOKEN_USE", "refresh")
    with pytest.raises(ValueError, match="token_use"):
        Settings()


def test_over_http_an_outage_is_a_503_and_a_bad_token_a_401(idp, moto_endpoint):
    settings = make_settings(
        moto_endpoint,
        moto_endpoint,
        **oidc_overrides(idp, oidc_jwks_failure_cooldown_seconds=1.0),
    )
    with live_server(build_session_app(settings)) as base:
        idp.failing = True
        down = httpx.post(f"{base}/session", headers={"Authorization": f"Bearer {idp.token()}"})
        assert down.status_code == 503
        assert down.json()["error"] == "identity_provider_unavailable"
        assert down.headers["retry-after"] == "1"
        idp.failing = False
        time.sleep(1.1)
        signed_in = httpx.post(
            f"{base}/session", headers={"Authorization": f"Bearer {idp.token()}"}
        )
        assert signed_in.status_code == 200
        refused = httpx.post(f"{base}/session", headers={"Authorization": "Bearer x.y.z"})
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "unauthorized",
            "message": "Invalid identity token: malformed token.",
        }


@pytest.mark.parametrize("misbehaving", ["html", "list", "no keys"])
def test_a_broken_key_set_is_an_outage_not_a_bad_token(idp, misbehaving):
    idp.misbehaving = misbehaving
    verifier = verifier_for(idp)
    with pytest.raises(IdentityProviderUnavailable) as outage:
        verifier.verify(idp.token("alice"))
    assert outage.value.retry_after_seconds >= 1


@pytest.mark.parametrize(
    ("drip_seconds", "reason"), [(0.05, "not received within 0.5 s"), (1.0, "ReadTimeout")]
)
def test_a_dripping_provider_meets_an_overall_deadline(idp, drip_seconds, reason):
    # A byte at a time, each within any per-read timeout: PyJWT's fetch alone would wait for
    # the whole set (minutes); this one gives up at the overall deadline.
    idp.misbehaving = "drip"
    idp.drip_seconds = drip_seconds
    verifier = verifier_for(idp, oidc_jwks_deadline_seconds=0.5)
    with pytest.raises(IdentityProviderUnavailable, match=reason):
        verifier.verify(idp.token("alice"))


def test_during_an_outage_the_provider_is_asked_once_per_failure_cooldown(idp):
    verifier = verifier_for(
        idp, oidc_jwks_failure_cooldown_seconds=0.5, oidc_jwks_refresh_cooldown_seconds=0
    )
    assert verifier.verify(idp.token("alice")).user_id == "alice"
    assert idp.jwks_requests == 1
    idp.failing = True
    # Unknown kids would each force a re-fetch (refresh cooldown 0): the first fails...
    unknown = [idp.token("mallory", key=SigningKey.generate("ES256")) for _ in range(10)]
    for token in unknown:
        with pytest.raises(IdentityProviderUnavailable):
            verifier.verify(token)
    # ...and the rest are answered without asking the failing provider again.
    assert idp.jwks_requests == 2
    # Known keys still verify from the cached set meanwhile.
    assert verifier.verify(idp.token("alice")).user_id == "alice"
    time.sleep(0.55)
    idp.failing = False
    refused(verifier, unknown[0], "unknown signing key")
    assert idp.jwks_requests == 3


def test_refusals_do_not_reveal_key_types(idp):
    verifier = verifier_for(idp)
    claims = idp.claims("mallory")
    # RS256 over the EC key's kid: PyJWT explains the key type mismatch; the caller must not
    # learn it.
    mixed = jwt.encode(claims, idp.rsa.private, algorithm="RS256", headers={"kid": idp.ec.kid})
    with pytest.raises(InvalidIdentityToken) as refusal:
        verifier.verify(mixed)
    message = str(refusal.value).lower()
    for word in ("ec", "rsa", "key", "algorithm", "match"):
        assert word not in message.split(), message
