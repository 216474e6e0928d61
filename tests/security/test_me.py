"""GET /me/export and DELETE /me can only ever reach the caller's own data.

The user is the verified client secret's subject and nothing else: B's export holds nothing of
A's, B's erase leaves every row and object of A's in place, and no header, query parameter or
body names anyone else. Rate limits cannot be spent on someone else's account either.
"""

from __future__ import annotations

import boto3
import httpx
import pytest

from tests.support.security import CaseCounter, World, fresh_user_id, sse_events
from tests.support.settings import BUCKET
from todo_assistant.db import keys
from todo_assistant_dev.chat_client import create_thread_request

pytestmark = pytest.mark.e2e


def objects_of(world: World, user_id: str) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=world.settings.s3_endpoint, region_name="us-east-1")
    found = s3.list_object_versions(Bucket=BUCKET, Prefix=keys.user_object_prefix(user_id))
    return sorted(f"{v['Key']}@{v['VersionId']}" for v in found.get("Versions", []))


def assert_nothing_of_a(world: World, response: httpx.Response) -> None:
    for value in [*world.a_targets.ids(), *world.a_texts, world.a.id]:
        assert value not in response.text, f"{value!r} leaked"


@pytest.mark.parametrize(
    "aim",
    [
        {},
        {"params": {"user_id": "A"}},
        {"headers": {"x-user-id": "A", "x-amzn-oidc-identity": "A"}},
    ],
)
def test_export_holds_only_the_callers_data(world: World, cases: CaseCounter, aim):
    params = {k: world.a.id for k in aim.get("params", {})}
    headers = {k: world.a.id for k in aim.get("headers", {})}
    before = world.snapshot(world.a)
    response = world.http.get(
        f"{world.base}/me/export", params=params, headers={**world.b.auth, **headers}
    )
    cases.tried()
    assert response.status_code == 200, response.text
    document = world.http.get(response.json()["download_url"])
    assert document.status_code == 200
    assert document.json()["user_id"] == world.b.id
    assert_nothing_of_a(world, response)
    assert_nothing_of_a(world, document)
    assert world.snapshot(world.a) == before
    # B's export link is for B's prefix only.
    assert keys.user_object_prefix(world.b.id) in response.json()["download_url"]


def test_erase_leaves_every_other_users_rows_and_objects(world: World, cases: CaseCounter):
    c = world.sign_in(fresh_user_id("eraser"))
    sse_events(world.chatkit(c, create_thread_request("Add a task to leave")))
    world.http.get(f"{world.base}/me/export", headers=world.a.auth).raise_for_status()
    a_rows, a_objects = world.snapshot(world.a), objects_of(world, world.a.id)
    assert a_objects, "A owns an export object"

    for headers in ({}, {"x-user-id": world.a.id}):
        erased = world.http.delete(
            f"{world.base}/me", params={"user_id": world.a.id}, headers={**c.auth, **headers}
        )
        cases.tried()
        assert erased.status_code == 200, erased.text
        assert_nothing_of_a(world, erased)
        assert world.snapshot(world.a) == a_rows
        assert objects_of(world, world.a.id) == a_objects
    assert world.snapshot(c) == {c.id: []}


@pytest.mark.parametrize("method", ["GET /me/export", "DELETE /me"])
@pytest.mark.parametrize("token", ["none", "forged", "app-token"])
def test_me_routes_refuse_anything_but_a_client_secret(world: World, cases, method, token):
    verb, path = method.split(" ")
    auth = {
        "none": {},
        "forged": {"Authorization": f"Bearer {world.a.secret[:-4]}AAAA"},
        # The identity provider's token is for POST /session only.
        "app-token": {"Authorization": f"Bearer {world.a.app_token}"},
    }[token]
    before = world.snapshot(world.a)
    response = world.http.request(verb, f"{world.base}{path}", headers=auth)
    cases.tried()
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert world.snapshot(world.a) == before
