"""Nothing but a verified token chooses the user: headers, body fields and query parameters
that name someone else are ignored (or refused), never obeyed."""

from __future__ import annotations

import jwt
import pytest

from tests.support.partitions import partition_items
from tests.support.security import World, fresh_user_id, sse_events
from todo_assistant_dev.chat_client import create_thread_request

pytestmark = pytest.mark.e2e


def spoofing_headers(victim: str) -> dict[str, str]:
    # What proxies, load balancers and identity-aware gateways use to pass a user along.
    return {
        "X-User-ID": victim,
        "X-Forwarded-User": victim,
        "X-Amzn-Oidc-Identity": victim,
        "X-Remote-User": victim,
    }


def spoofing_query(victim: str) -> dict[str, str]:
    return {"sub": victim, "user_id": victim, "user": victim}


def test_session_ignores_user_fields_beside_the_app_token(world: World, cases):
    attacker = fresh_user_id("attacker")
    victim = world.a.id
    response = world.http.post(
        f"{world.base}/session",
        params=spoofing_query(victim),
        json={"user_id": victim, "sub": victim},
        headers={
            "Authorization": f"Bearer {world.idp.token(attacker)}",
            **spoofing_headers(victim),
        },
    )
    cases.tried()
    assert response.status_code == 200
    claims = jwt.decode(response.json()["client_secret"], options={"verify_signature": False})
    assert claims["sub"] == attacker


def test_refresh_ignores_user_fields_and_refuses_extra_body_fields(world: World, cases):
    attacker = world.sign_in(fresh_user_id("attacker"))
    victim = world.a.id
    refreshed = world.http.post(
        f"{world.base}/session/refresh",
        params=spoofing_query(victim),
        json={"client_secret": attacker.secret},
        headers=spoofing_headers(victim),
    )
    cases.tried()
    assert refreshed.status_code == 200
    claims = jwt.decode(refreshed.json()["client_secret"], options={"verify_signature": False})
    assert claims["sub"] == attacker.id
    with_user = world.http.post(
        f"{world.base}/session/refresh", json={"client_secret": attacker.secret, "user_id": victim}
    )
    cases.tried()
    assert with_user.status_code == 400


def test_chatkit_ignores_user_fields_in_headers_query_metadata_and_params(world: World, cases):
    attacker = world.sign_in(fresh_user_id("attacker"))
    victim = world.a.id
    before = world.snapshot(world.a)
    request = create_thread_request("Add a task to plant a flag")
    request["metadata"] = {"user_id": victim, "sub": victim}
    request["params"]["user_id"] = victim
    request["params"]["input"]["user_id"] = victim
    # The page context reaches the agent; identity-like fields in and beside it do not.
    request["params"]["input"]["metadata"] = {
        "user_id": victim,
        "sub": victim,
        "email": f"{victim}@example.com",
        "userInfo": {"id": victim},
        "pageContext": {"view": "board", "user_id": victim, "sub": victim, "owner": victim},
    }
    response = world.http.post(
        f"{world.base}/chatkit",
        params=spoofing_query(victim),
        json=request,
        headers={**attacker.auth, **spoofing_headers(victim)},
    )
    cases.tried()
    assert not [e for e in sse_events(response) if e["type"] == "error"]
    assert world.snapshot(world.a) == before
    stored = {row.get("kind", {}).get("S") for row in partition_items(world.settings, attacker.id)}
    assert {"thread", "item", "task"} <= stored

    listed = world.chatkit(
        attacker,
        {"type": "threads.list", "params": {"limit": 50}, "metadata": {"user_id": victim}},
        **spoofing_headers(victim),
    )
    cases.tried()
    assert world.a_targets.thread not in listed.text


def test_tasks_api_ignores_user_fields(world: World, cases):
    attacker = world.sign_in(fresh_user_id("attacker"))
    victim = world.a.id
    before = world.snapshot(world.a)
    created = world.http.post(
        f"{world.base}/tasks",
        params=spoofing_query(victim),
        json={"title": "planted"},
        headers={**attacker.auth, **spoofing_headers(victim)},
    )
    cases.tried()
    assert created.status_code == 201
    assert world.snapshot(world.a) == before
    listed = world.http.get(
        f"{world.base}/tasks",
        params=spoofing_query(victim),
        headers={**attacker.auth, **spoofing_headers(victim)},
    )
    cases.tried()
    assert [t["title"] for t in listed.json()["tasks"]] == ["planted"]
    for field in ("user_id", "owner", "sub"):
        refused = world.http.post(
            f"{world.base}/tasks", json={"title": "x", field: victim}, headers=attacker.auth
        )
        cases.tried()
        assert refused.status_code == 400
    assert world.snapshot(world.a) == before
