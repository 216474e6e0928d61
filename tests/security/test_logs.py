"""Secrets, tokens and message text never reach the logs, on the happy path or an error path."""

from __future__ import annotations

import uuid

import pytest

from tests.support.logs import captured_logs
from tests.support.oidc import SIGNING_KEY
from tests.support.security import World, fresh_user_id, sse_events
from todo_assistant_dev.chat_client import add_message_request, create_thread_request

pytestmark = pytest.mark.e2e


def test_a_full_turn_logs_no_secret_token_or_message_text(world: World, cases, capfd):
    marker = uuid.uuid4().hex[:12]
    first_text = f"Add a task to water the orchids {marker}"
    second_text = f"Show me all my tasks, zebra-{marker}"
    user_id = fresh_user_id("logged")
    app_token = world.idp.token(user_id)
    secrets: list[str] = []

    with captured_logs() as logs:
        session = world.http.post(
            f"{world.base}/session", headers={"Authorization": f"Bearer {app_token}"}
        )
        assert session.status_code == 200
        secret = session.json()["client_secret"]
        secrets.append(secret)
        auth = {"Authorization": f"Bearer {secret}"}
        created = world.http.post(
            f"{world.base}/chatkit", json=create_thread_request(first_text), headers=auth
        )
        events = sse_events(created)
        thread = next(e["thread"]["id"] for e in events if e["type"] == "thread.created")
        sse_events(
            world.http.post(
                f"{world.base}/chatkit", json=add_message_request(thread, second_text), headers=auth
            )
        )
        tasks = world.http.get(f"{world.base}/tasks", headers=auth)
        assert marker in tasks.text  # the task the assistant added carries the text
        refreshed = world.http.post(f"{world.base}/session/refresh", json={"client_secret": secret})
        assert refreshed.status_code == 200
        secrets.append(refreshed.json()["client_secret"])
        # Error paths log too: a tampered secret, a bad app token, an unknown thread.
        tampered = secret[:-6] + "AAAAAA"
        assert (
            world.http.get(
                f"{world.base}/tasks", headers={"Authorization": f"Bearer {tampered}"}
            ).status_code
            == 401
        )
        bad_app = app_token[:-6] + "AAAAAA"
        assert (
            world.http.post(
                f"{world.base}/session", headers={"Authorization": f"Bearer {bad_app}"}
            ).status_code
            == 401
        )
        missing = world.http.post(
            f"{world.base}/chatkit",
            json=add_message_request("thr_missing", first_text),
            headers=auth,
        )
        assert missing.status_code == 404
    cases.tried(8)

    out, err = capfd.readouterr()
    logged = logs.text + out + err
    assert "session issued" in logged and "chatkit request" in logged  # the capture works
    assert user_id in logged  # user ids are fine to log; secrets are not
    forbidden = {
        "app token": app_token,
        "tampered app token": bad_app,
        "client secret": secrets[0],
        "refreshed client secret": secrets[1],
        "tampered client secret": tampered,
        "signing key": SIGNING_KEY,
        "first message": first_text,
        "second message": second_text,
        "message marker": marker,
    }
    # JWT signatures are the unforgeable part: none may appear even when a token is cut.
    for name, token in list(forbidden.items()):
        if token.count(".") == 2:
            forbidden[f"{name} signature"] = token.rsplit(".", 1)[1]
    for name, value in forbidden.items():
        assert value not in logged, f"the {name} appears in the logs"
