"""Bad tokens on every door: /chatkit and /tasks take only our client secrets, /session takes
only the identity provider's tokens, /session/refresh only our (recently expired) secrets."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pytest

from tests.support.oidc import SIGNING_KEY, SigningKey, hs256_with
from tests.support.partitions import partition_items
from tests.support.security import World
from tests.support.tokens import client_secret_claims, forge_client_secret
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.ids import new_id
from todo_assistant_dev.chat_client import create_thread_request

pytestmark = pytest.mark.e2e

MALLORY = "mallory-the-attacker"


def secret_claims(**overrides: object) -> dict[str, object]:
    return client_secret_claims(MALLORY, **overrides)


def forge(key: str = SIGNING_KEY, kid: str = "k1", **overrides: object) -> str:
    return forge_client_secret(key, MALLORY, kid, **overrides)


def minted(world: World, *, age: int) -> str:
    """A genuine client secret for Mallory, issued `age` seconds ago (TTL 900 s)."""
    service = ClientSecretService(
        {"k1": SIGNING_KEY},
        "k1",
        audience=world.settings.token_audience,
        issuer=world.settings.token_issuer,
        ttl_seconds=world.settings.client_secret_ttl_seconds,
    )
    return service.issue(MALLORY, now=time.time() - age).client_secret


TokenFactory = Callable[[World], str | None]

# Tokens that must never open /chatkit or /tasks (the header value after "Bearer ", or raw).
SECRET_ATTACKS: dict[str, tuple[TokenFactory, str]] = {
    "missing": (lambda w: None, "Missing bearer token"),
    "basic auth": (lambda w: "Basic bWFsbG9yeTpwYXNz", "Missing bearer token"),
    "bare scheme": (lambda w: "Bearer", "Missing bearer token"),
    "garbage": (lambda w: "Bearer not-a-jwt", "malformed"),
    "three dots": (lambda w: "Bearer a.b.c", "malformed"),
    "expired": (lambda w: f"Bearer {minted(w, age=3_600)}", "expired"),
    "expired within refresh grace": (lambda w: f"Bearer {minted(w, age=1_000)}", "expired"),
    "wrong signing key": (lambda w: f"Bearer {forge(key='x' * 48)}", "Signature"),
    "unknown kid": (lambda w: f"Bearer {forge(kid='k9')}", "unknown signing key"),
    "wrong audience": (lambda w: f"Bearer {forge(aud='another-service')}", "audience"),
    "wrong issuer": (lambda w: f"Bearer {forge(iss='someone-else')}", "issuer"),
    "not yet valid": (lambda w: f"Bearer {forge(nbf=int(time.time()) + 600)}", "not yet valid"),
    "no expiry": (lambda w: f"Bearer {forge(exp=None)}", "exp"),
    "not a client secret": (lambda w: f"Bearer {forge(typ=None)}", "not a client secret"),
    # Signed with the real key (as a leaked key or a bug would allow): the claims still count.
    "auth_time null": (
        lambda w: (
            "Bearer "
            + jwt.encode(
                {**secret_claims(), "auth_time": None},
                SIGNING_KEY,
                algorithm="HS256",
                headers={"kid": "k1"},
            )
        ),
        "malformed claims",
    ),
    "auth_time text": (lambda w: f"Bearer {forge(auth_time='yesterday')}", "malformed claims"),
    "auth_time in the future": (
        lambda w: f"Bearer {forge(auth_time=int(time.time()) + 86_400)}",
        "malformed claims",
    ),
    "iat text": (lambda w: f"Bearer {forge(iat='now')}", "malformed claims"),
    "exp text": (lambda w: f"Bearer {forge(exp='never')}", "malformed"),
    "sub outside the user-id alphabet": (
        lambda w: f"Bearer {forge_client_secret(SIGNING_KEY, 'USER#victim')}",
        "unusable subject",
    ),
    "sub too long": (
        lambda w: f"Bearer {forge_client_secret(SIGNING_KEY, 'a' * 129)}",
        "unusable subject",
    ),
    "lifetime of ten years": (
        lambda w: f"Bearer {forge(exp=int(time.time()) + 10 * 365 * 86_400)}",
        "lifetime too long",
    ),
    "alg none": (
        lambda w: (
            "Bearer " + jwt.encode(secret_claims(), None, algorithm=None, headers={"kid": "k1"})
        ),
        "algorithm",
    ),
    "HS256 with the provider's public key": (
        lambda w: "Bearer " + hs256_with(w.idp.rsa.public_pem(), secret_claims(), {"kid": "k1"}),
        "Signature",
    ),
    "valid app (OIDC) token": (lambda w: f"Bearer {w.idp.token(MALLORY)}", "algorithm"),
    "app token with our claims": (
        lambda w: (
            "Bearer "
            + jwt.encode(
                secret_claims(), w.idp.rsa.private, algorithm="RS256", headers={"kid": "k1"}
            )
        ),
        "algorithm",
    ),
}


@pytest.mark.parametrize(
    "door", ["POST /chatkit", "POST /chatkit/cancel", "GET /tasks", "POST /tasks"]
)
@pytest.mark.parametrize("name", list(SECRET_ATTACKS))
def test_client_secret_doors_refuse_bad_tokens(world, cases, door, name):
    make, reason = SECRET_ATTACKS[name]
    value = make(world)
    headers = {"Authorization": value} if value is not None else {}
    if door == "POST /chatkit":
        response = world.http.post(
            f"{world.base}/chatkit",
            json=create_thread_request("Add a task to hack"),
            headers=headers,
        )
    elif door == "POST /chatkit/cancel":
        response = world.http.post(
            f"{world.base}/chatkit/cancel", json={"thread_id": new_id("thr")}, headers=headers
        )
    elif door == "GET /tasks":
        response = world.http.get(f"{world.base}/tasks", headers=headers)
    else:
        response = world.http.post(f"{world.base}/tasks", json={"title": "hack"}, headers=headers)
    cases.tried()
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"error", "message"}
    assert body["error"] == "unauthorized"
    assert reason.lower() in body["message"].lower()
    assert partition_items(world.settings, MALLORY) == []


def app_token(**overrides: object) -> TokenFactory:
    return lambda w: w.idp.token(MALLORY, **overrides)


# Tokens that must never sign anyone in at /session.
APP_TOKEN_ATTACKS: dict[str, tuple[TokenFactory, str]] = {
    "garbage": (lambda w: "not-a-jwt", "malformed"),
    "expired": (app_token(exp=int(time.time()) - 3_600), "expired"),
    "nbf in the future": (app_token(nbf=int(time.time()) + 3_600), "not yet valid"),
    "wrong audience": (app_token(aud="another-app"), "audience"),
    "no audience": (app_token(aud=None), "aud"),
    "wrong issuer": (app_token(iss="https://evil.example"), "issuer"),
    "missing sub": (lambda w: w.idp.token(None), "no 'sub' claim"),
    "unusable sub": (app_token(sub="USER#victim"), "not a usable id"),
    "alg none": (
        lambda w: jwt.encode(
            w.idp.claims(MALLORY), None, algorithm=None, headers={"kid": w.idp.rsa.kid}
        ),
        "algorithm",
    ),
    "HS256 with the public key (PEM)": (
        lambda w: hs256_with(w.idp.rsa.public_pem(), w.idp.claims(MALLORY), {"kid": w.idp.rsa.kid}),
        "algorithm",
    ),
    "unknown kid": (
        lambda w: w.idp.token(MALLORY, key=SigningKey.generate("RS256")),
        "unknown signing key",
    ),
    "rogue key under a published kid": (
        lambda w: w.idp.token(MALLORY, key=SigningKey.generate("RS256", kid=w.idp.rsa.kid)),
        "Signature",
    ),
    "our own client secret": (lambda w: w.b.secret, "algorithm"),
    "forged client secret": (lambda w: forge(), "algorithm"),
}


@pytest.mark.parametrize("name", list(APP_TOKEN_ATTACKS))
def test_session_refuses_bad_app_tokens(world, cases, name):
    make, reason = APP_TOKEN_ATTACKS[name]
    response = world.http.post(
        f"{world.base}/session",
        headers={"Authorization": f"Bearer {make(world)}"},
        json={"user_id": MALLORY},
    )
    cases.tried()
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert reason.lower() in response.json()["message"].lower()
    assert "client_secret" not in response.text


def test_session_without_a_token_or_with_a_dev_body(world, cases):
    for kwargs in ({}, {"json": {"user_id": MALLORY}}, {"headers": {"Authorization": "Basic x"}}):
        response = world.http.post(f"{world.base}/session", **kwargs)
        cases.tried()
        assert response.status_code == 401
        assert response.json()["message"] == "Missing bearer token."


REFRESH_ATTACKS: dict[str, tuple[TokenFactory, str]] = {
    "app (OIDC) token": (lambda w: w.b.app_token, "algorithm"),
    "expired beyond the grace period": (lambda w: minted(w, age=3_600), "expired"),
    "wrong signing key": (lambda w: forge(key="y" * 48), "Signature"),
    "alg none": (
        lambda w: jwt.encode(secret_claims(), None, algorithm=None, headers={"kid": "k1"}),
        "algorithm",
    ),
    "unknown kid": (lambda w: forge(kid="k0"), "unknown signing key"),
    "tampered subject": (
        lambda w: ".".join(
            [
                w.b.secret.split(".")[0],
                jwt.utils.base64url_encode(b'{"sub":"victim"}').decode(),
                w.b.secret.split(".")[2],
            ]
        ),
        "invalid token",
    ),
}


@pytest.mark.parametrize("name", list(REFRESH_ATTACKS))
def test_refresh_refuses_everything_but_our_own_secrets(world, cases, name):
    make, reason = REFRESH_ATTACKS[name]
    response = world.http.post(f"{world.base}/session/refresh", json={"client_secret": make(world)})
    cases.tried()
    assert response.status_code == 401, response.text
    assert reason.lower() in response.json()["message"].lower()


def test_refresh_within_grace_keeps_the_user(world, cases):
    response = world.http.post(
        f"{world.base}/session/refresh", json={"client_secret": minted(world, age=1_000)}
    )
    cases.tried()
    assert response.status_code == 200
    claims = jwt.decode(response.json()["client_secret"], options={"verify_signature": False})
    assert claims["sub"] == MALLORY


def test_unknown_kids_do_not_hammer_the_identity_provider(world, cases):
    before = world.idp.jwks_requests
    for _ in range(25):
        token = world.idp.token(MALLORY, key=SigningKey.generate("ES256"))
        response = world.http.post(
            f"{world.base}/session", headers={"Authorization": f"Bearer {token}"}
        )
        cases.tried()
        assert response.status_code == 401
    # The default cooldown (30 s) allows at most one re-fetch for the whole burst.
    assert world.idp.jwks_requests - before <= 1


def test_refresh_cannot_keep_a_sign_in_alive_forever(world, cases):
    settings = world.settings
    service = ClientSecretService(
        {"k1": SIGNING_KEY},
        "k1",
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        ttl_seconds=settings.client_secret_ttl_seconds,
    )
    too_old = int(time.time()) - settings.session_max_age_seconds - 60
    fresh_secret = service.issue(MALLORY, auth_time=too_old).client_secret
    response = world.http.post(
        f"{world.base}/session/refresh", json={"client_secret": fresh_secret}
    )
    cases.tried()
    assert response.status_code == 401
    assert "sign in again" in response.json()["message"]
    # The secret itself still works until it expires; only its renewal is refused.
    assert (
        world.http.get(
            f"{world.base}/tasks", headers={"Authorization": f"Bearer {fresh_secret}"}
        ).status_code
        == 200
    )
