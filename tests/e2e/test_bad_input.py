"""Bad input gets a clear 4xx JSON error and writes nothing."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.partitions import partition_keys
from tests.support.settings import DEV_KEY
from tests.support.tokens import forge_client_secret
from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    create_thread_request,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
async def signed_in(stack, http, user_id) -> ChatKitClient:
    client = ChatKitClient(stack.base_url, http)
    await client.sign_in(user_id)
    return client


async def post_chatkit(http, stack, body, token=None, content_type="application/json"):
    headers = {"content-type": content_type}
    if token is not None:
        headers["Authorization"] = token if token.startswith("Basic ") else f"Bearer {token}"
    if isinstance(body, dict):
        import json

        body = json.dumps(body)
    return await http.post(f"{stack.base_url}/chatkit", content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "Invalid JSON"),
        ('{"type": "threads.hack", "params": {}}', "threads.hack"),
        ('{"type": "threads.create"}', "params"),
        ('{"type": "threads.create", "params": {"input": {"content": "x"}}}', "content"),
        ("[]", "object"),
        ("", "EOF"),
    ],
)
async def test_malformed_requests_are_400_and_write_nothing(stack, http, signed_in, body, fragment):
    response = await post_chatkit(http, stack, body, signed_in.client_secret)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "invalid_request"
    assert fragment.lower() in payload["message"].lower()
    assert partition_keys(stack.settings, signed_in_user(signed_in)) == []


def signed_in_user(client: ChatKitClient) -> str:
    return jwt.decode(client.client_secret, options={"verify_signature": False})["sub"]


async def test_wrong_content_type_is_415(stack, http, signed_in):
    response = await post_chatkit(
        http, stack, create_thread_request("hi"), signed_in.client_secret, "text/plain"
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


async def test_oversized_body_is_413_and_writes_nothing(stack, http, signed_in):
    huge = create_thread_request("x" * 70_000)  # the test stack allows 64,000 bytes
    response = await post_chatkit(http, stack, huge, signed_in.client_secret)
    assert response.status_code == 413
    assert response.json() == {
        "error": "request_too_large",
        "message": "Request body exceeds the limit of 64000 bytes.",
    }
    assert partition_keys(stack.settings, signed_in_user(signed_in)) == []

    # Without Content-Length (chunked upload) the limit holds too.
    async def chunks():
        for _ in range(20):
            yield b"x" * 4_000

    response = await http.post(
        f"{stack.base_url}/chatkit",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {signed_in.client_secret}",
            "content-type": "application/json",
        },
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: None, "Missing bearer token"),
        (lambda: "Basic dXNlcjpwYXNz", "Missing bearer token"),
        (lambda: "not-a-jwt", "malformed"),
        (
            lambda: forge_client_secret(
                DEV_KEY, "mallory", exp=int(time.time()) - 3600, iat=int(time.time()) - 4000
            ),
            "expired",
        ),
        (
            lambda: forge_client_secret("dev-insecure-some-other-key-0123456789abcdef", "mallory"),
            "Signature",
        ),
        (lambda: forge_client_secret(DEV_KEY, "mallory", kid="k9"), "unknown signing key"),
        (lambda: forge_client_secret(DEV_KEY, "mallory", aud="someone-else"), "audience"),
        (lambda: forge_client_secret(DEV_KEY, "mallory", typ="id-token"), "not a client secret"),
    ],
)
async def test_bad_tokens_are_401_and_write_nothing(stack, http, make_token, reason):
    # Forged when the test runs: a token made at collection could expire before a slow suite
    # reaches it, and be refused for the wrong reason.
    token = make_token()
    response = await post_chatkit(http, stack, create_thread_request("Add a task to hack"), token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["error"] == "unauthorized"
    assert reason.lower() in body["message"].lower()
    assert partition_keys(stack.settings, "mallory") == []


async def test_tampered_token_is_refused(stack, http, signed_in):
    header, payload, signature = signed_in.client_secret.split(".")
    import base64
    import json

    claims_ = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims_["sub"] = "mallory"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims_).encode()).rstrip(b"=").decode()
    response = await post_chatkit(
        http, stack, create_thread_request("hi"), f"{header}.{forged_payload}.{signature}"
    )
    assert response.status_code == 401
    assert partition_keys(stack.settings, "mallory") == []


async def test_unknown_thread_is_404_and_writes_nothing(stack, http, signed_in):
    response = await post_chatkit(
        http, stack, add_message_request("thr_does_not_exist", "hello"), signed_in.client_secret
    )
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    # Nothing is written, not even the turn's count: it rides on the message's write, which
    # the missing thread cancelled.
    assert partition_keys(stack.settings, signed_in_user(signed_in)) == []


async def test_missing_attachment_is_404_before_anything_is_written(stack, http, signed_in):
    request = create_thread_request("see attached")
    request["params"]["input"]["attachments"] = ["atc_missing"]
    response = await post_chatkit(http, stack, request, signed_in.client_secret)
    assert response.status_code == 404
    assert partition_keys(stack.settings, signed_in_user(signed_in)) == []


async def test_unsupported_request_is_a_clear_400(stack, http, signed_in):
    response = await post_chatkit(
        http,
        stack,
        {"type": "input.transcribe", "params": {"audio_base64": "AAAA", "mime_type": "audio/webm"}},
        signed_in.client_secret,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_request"


async def test_user_cannot_be_chosen_by_header_or_body(stack, http, signed_in):
    request = create_thread_request("Add a task to buy milk")
    request["params"]["metadata"] = {"user_id": "victim"}
    response = await http.post(
        f"{stack.base_url}/chatkit",
        json=request,
        headers={"Authorization": f"Bearer {signed_in.client_secret}", "X-User-ID": "victim"},
    )
    assert response.status_code == 200
    await response.aread()
    assert partition_keys(stack.settings, "victim") == []
    assert partition_keys(stack.settings, signed_in_user(signed_in))
