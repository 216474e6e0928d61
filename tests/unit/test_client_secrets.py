"""Client-secret signing keys: Secrets Manager (moto server), key sets with a `kid`, rotation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities import parameters

from tests.support.settings import make_settings
from todo_assistant.auth.client_secrets import (
    ClientSecretService,
    InvalidClientSecret,
    SigningKeys,
    parse_signing_keys,
)
from todo_assistant.config import ConfigurationError
from todo_assistant.wiring.shared import build_client_secrets, signing_keys

NOWHERE = "http://127.0.0.1:1"
K1 = "first-signing-key-0123456789abcdefghijklmnop"
K2 = "second-signing-key-0123456789abcdefghijklmno"


def key_set(current: str, **keys: str) -> str:
    return json.dumps({"current": current, "keys": keys})


@pytest.fixture
def secret_id() -> str:
    return f"todo-assistant/client-secret-keys-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def secretsmanager(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager. The session's moto server, not `mock_aws`: entering `mock_aws`
    resets every in-process moto backend, the server's tables included."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    # Powertools keeps providers (and their boto3 clients) and values across calls.
    parameters.base.DEFAULT_PROVIDERS.clear()
    yield boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint)
    parameters.base.DEFAULT_PROVIDERS.clear()


def service_from_secret(secret_id: str, **overrides: object) -> ClientSecretService:
    settings = make_settings(
        NOWHERE,
        NOWHERE,
        auth_mode="oidc",
        token_signing_key=None,
        token_signing_key_secret_id=secret_id,
        **overrides,
    )
    return build_client_secrets(settings)


def expire_cache() -> None:
    """What five minutes do to Powertools' cache."""
    parameters.clear_caches()


def test_rotation_keeps_old_secrets_valid_until_their_key_is_removed(secretsmanager, secret_id):
    secretsmanager.create_secret(Name=secret_id, SecretString=key_set("k1", k1=K1))
    service = service_from_secret(secret_id)
    minted_k1 = service.issue("alice").client_secret
    assert jwt.get_unverified_header(minted_k1)["kid"] == "k1"

    # Step 1 of a rotation: publish k2 next to k1 (k1 still signs), let caches expire.
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=key_set("k1", k1=K1, k2=K2))
    expire_cache()
    assert jwt.get_unverified_header(service.issue("alice").client_secret)["kid"] == "k1"
    # Step 2: k2 becomes current. New secrets use k2; k1's secrets still verify.
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=key_set("k2", k1=K1, k2=K2))
    expire_cache()
    minted_k2 = service.issue("alice").client_secret
    assert jwt.get_unverified_header(minted_k2)["kid"] == "k2"
    assert service.verify(minted_k1).user_id == "alice"
    assert service.verify(minted_k2).user_id == "alice"
    # A secret refreshed during the rotation is signed with the current key.
    refreshed = service.issue(service.verify(minted_k1).user_id).client_secret
    assert jwt.get_unverified_header(refreshed)["kid"] == "k2"

    # Step 3 (after TTL + grace): k1 is removed, its secrets stop working.
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=key_set("k2", k2=K2))
    expire_cache()
    with pytest.raises(InvalidClientSecret, match="unknown signing key"):
        service.verify(minted_k1)
    with pytest.raises(InvalidClientSecret, match="unknown signing key"):
        service.verify(minted_k1, allow_expired_for=3_600)
    assert service.verify(minted_k2).user_id == "alice"


def test_the_secret_is_cached_not_read_per_request(secretsmanager, secret_id):
    secretsmanager.create_secret(Name=secret_id, SecretString=key_set("k1", k1=K1))
    service = service_from_secret(secret_id)
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=key_set("k2", k2=K2))
    # Within Powertools' max_age the cached value is used: no AWS call per request.
    for _ in range(5):
        token = service.issue("alice").client_secret
        assert jwt.get_unverified_header(token)["kid"] == "k1"
        assert service.verify(token).user_id == "alice"


def test_plain_string_secret_uses_the_configured_key_id(secretsmanager, secret_id):
    secretsmanager.create_secret(Name=secret_id, SecretString=K1)
    service = service_from_secret(secret_id, token_signing_key_id="2026-11")
    token = service.issue("alice").client_secret
    assert jwt.get_unverified_header(token)["kid"] == "2026-11"
    assert jwt.decode(token, K1, algorithms=["HS256"], audience=service.audience)["sub"] == "alice"


def test_a_failed_re_read_keeps_the_last_good_keys(secretsmanager, secret_id):
    secretsmanager.create_secret(Name=secret_id, SecretString=key_set("k1", k1=K1))
    service = service_from_secret(secret_id)
    token = service.issue("alice").client_secret
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString="{not json")
    expire_cache()
    assert service.verify(token).user_id == "alice"
    secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    expire_cache()
    assert service.verify(service.issue("alice").client_secret).user_id == "alice"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("short", "at least 32 characters"),
        ("{not json", "not valid JSON"),
        (json.dumps({"keys": {"k1": K1}}), '"current"'),
        (key_set("k3", k1=K1), "'k3' is not among"),
        (key_set("k1", k1=K1, k2="tiny"), "'k2' must be a string of at least 32"),
        (json.dumps({"current": "k1", "keys": {"k1": 12345}}), "'k1' must be a string"),
    ],
)
def test_unusable_key_sets_fail_at_start_up(secretsmanager, secret_id, value, message):
    secretsmanager.create_secret(Name=secret_id, SecretString=value)
    with pytest.raises(ConfigurationError, match=message):
        service_from_secret(secret_id)


def test_environment_key_may_be_a_key_set_too():
    settings = make_settings(
        NOWHERE, NOWHERE, auth_mode="oidc", token_signing_key=key_set("k2", k1=K1, k2=K2)
    )
    keys = signing_keys(settings)
    assert (keys.current_kid, sorted(keys.keys)) == ("k2", ["k1", "k2"])
    service = build_client_secrets(settings)
    old = ClientSecretService(
        {"k1": K1}, "k1", audience=service.audience, issuer=service.issuer, ttl_seconds=60
    ).issue("alice")
    assert service.verify(old.client_secret).user_id == "alice"


def test_parse_is_strict_and_cached():
    assert parse_signing_keys(K1, "k1") is parse_signing_keys(K1, "k1")
    with pytest.raises(ValueError, match="not among"):
        SigningKeys({"k1": K1}, "k2")


def test_refresh_window_accepts_expired_within_grace_never_tampered():
    service = ClientSecretService(
        {"k1": K1}, "k1", audience="a", issuer="i", ttl_seconds=900, refresh_grace_seconds=300
    )
    recently = service.issue("alice", now=time.time() - 1_000).client_secret  # expired 100 s ago
    long_ago = service.issue("alice", now=time.time() - 1_300).client_secret  # expired 400 s ago
    with pytest.raises(InvalidClientSecret, match="expired"):
        service.verify(recently)
    assert service.verify(recently, allow_expired_for=300).user_id == "alice"
    with pytest.raises(InvalidClientSecret, match="expired"):
        service.verify(long_ago, allow_expired_for=300)
    head, _, sig = service.issue("alice").client_secret.split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"mallory"}').decode()
    with pytest.raises(InvalidClientSecret):
        service.verify(f"{head}.{forged}.{sig}", allow_expired_for=300)


def test_refresh_carries_the_sign_in_time_and_stops_at_the_maximum_age():
    service = ClientSecretService(
        {"k1": K1},
        "k1",
        audience="a",
        issuer="i",
        ttl_seconds=900,
        refresh_grace_seconds=300,
        max_session_seconds=3_600,
    )
    start = time.time() - 3_000
    signed_in = service.issue("alice", now=start)
    assert service.verify(signed_in.client_secret, allow_expired_for=10**6).auth_time == int(start)
    # Refreshed (within grace) some time later: a new secret, the same sign-in time.
    renewed = service.refresh(
        service.issue("alice", now=start + 2_000, auth_time=int(start)).client_secret
    )
    assert service.verify(renewed.client_secret).auth_time == int(start)
    # Ten minutes later the sign-in is over an hour old: refreshing stops, whatever the secret.
    with pytest.raises(InvalidClientSecret, match="sign in again"):
        service.refresh(renewed.client_secret, now=time.time() + 700)
    # A secret from before `auth_time` existed counts from its own `iat`.
    legacy = jwt.encode(
        {
            "sub": "alice",
            "aud": "a",
            "iss": "i",
            "iat": int(time.time()) - 800,
            "exp": int(time.time()) + 100,
            "jti": "j",
            "typ": "chatkit-client-secret",
        },
        K1,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    assert service.verify(legacy).auth_time == int(time.time()) - 800
    short = ClientSecretService(
        {"k1": K1}, "k1", audience="a", issuer="i", ttl_seconds=900, max_session_seconds=600
    )
    with pytest.raises(InvalidClientSecret, match="sign in again"):
        short.refresh(legacy)


def genuine_claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "aud": "a",
        "iss": "i",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j",
        "typ": "chatkit-client-secret",
        "auth_time": now,
    }
    # "+N" / "-N": seconds from now, computed when the test runs (not at collection).
    for name, value in overrides.items():
        if isinstance(value, str) and value[:1] in "+-" and value[1:].isdigit():
            value = now + int(value)
        claims[name] = value
    return claims


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"auth_time": None}, "malformed claims"),
        ({"auth_time": "yesterday"}, "malformed claims"),
        ({"auth_time": 1.5}, "malformed claims"),
        ({"auth_time": True}, "malformed claims"),
        ({"auth_time": -1}, "malformed claims"),
        ({"auth_time": "+3600"}, "malformed claims"),
        ({"iat": "now"}, "malformed claims"),
        ({"iat": None}, "malformed claims|missing claim"),
        ({"exp": "later"}, "malformed token"),
        ({"jti": 7}, "malformed claims"),
        ({"sub": ["alice"]}, "malformed claims"),
        ({"sub": "USER#bob"}, "unusable subject"),
        ({"sub": "a" * 129}, "unusable subject"),
        ({"sub": ""}, "unusable subject"),
        ({"exp": "+315360000"}, "lifetime too long"),
        ({"iat": "-86400", "exp": "+60"}, "lifetime too long"),
    ],
)
def test_claims_of_the_wrong_type_or_shape_are_refused_not_crashed_on(overrides, reason):
    service = ClientSecretService({"k1": K1}, "k1", audience="a", issuer="i", ttl_seconds=900)
    token = jwt.encode(genuine_claims(**overrides), K1, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidClientSecret, match=reason):
        service.verify(token)
    with pytest.raises(InvalidClientSecret):
        service.refresh(token)


def test_the_lifetime_ceiling_allows_the_configured_ttl_and_leeway():
    service = ClientSecretService(
        {"k1": K1}, "k1", audience="a", issuer="i", ttl_seconds=900, leeway_seconds=5
    )
    now = int(time.time())
    at_ceiling = genuine_claims(exp=now + 905)
    token = jwt.encode(at_ceiling, K1, algorithm="HS256", headers={"kid": "k1"})
    assert service.verify(token).expires_at == now + 905
    over = jwt.encode(genuine_claims(exp=now + 906), K1, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidClientSecret, match="lifetime too long"):
        service.verify(over)


def test_refusals_do_not_pass_pyjwt_messages_through():
    service = ClientSecretService({"k1": K1}, "k1", audience="a", issuer="i", ttl_seconds=900)
    token = jwt.encode(genuine_claims(aud="b"), K1, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidClientSecret) as refused:
        service.verify(token)
    assert str(refused.value) == "invalid token: wrong audience"
