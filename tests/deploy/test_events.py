"""Every sample event in events/ through the real Mangum handlers, in-process.

The functions' own `app.py` modules are imported with the environment template.yaml gives
them in AWS (resolved for this test's resources), on moto's in-process AWS: DynamoDB for the
table, S3 for the large-item bucket, Secrets Manager for the signing key (read through
Powertools, as in Lambda). Client secrets expire, so the events carry `{{client_secret}}` and
ids as placeholders that the test fills, as `todo_assistant_dev.mint_secret` does for
`sam local invoke`.
"""

from __future__ import annotations

import copy
import gc
import json
import secrets
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from fastapi.routing import APIRoute
from moto import mock_aws

from tests.deploy.cfn import Resolver, default_refs, load_template
from tests.deploy.identity import AUDIENCE, ISSUER, IdentityProvider, identity_provider
from tests.support.lambda_functions import (
    EVENTS,
    Function,
    assert_turn,
    fake_runtime_module,
    import_function,
    item_types,
    kinds_of,
)
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.config import get_settings
from todo_assistant.db.table import create_table_if_missing
from todo_assistant.wiring.shared import bind_table, build_client_secrets


@dataclass
class Deployed:
    session: Function
    chatkit: Function
    secrets: ClientSecretService
    identity: IdentityProvider
    environments: dict[str, dict[str, str]]
    runtime: ModuleType


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"todo-events-{suffix}", f"todo-events-{suffix}"
    # reset/remove_data off: moto's backends are process-wide, shared with the moto server
    # other test modules run; this module's names are unique instead.
    mock = mock_aws()
    mock.start(reset=False)
    with pytest.MonkeyPatch.context() as env, identity_provider() as idp:
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.delenv("DYNAMODB_ENDPOINT", raising=False)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
        secret_arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=f"todo-events-signing-{suffix}", SecretString=secrets.token_urlsafe(48)
        )["ARN"]
        parameters = {"OidcIssuer": ISSUER, "OidcAudience": AUDIENCE, "OidcJwksUrl": idp.jwks_url}
        resolver = Resolver(load_template(), parameters, default_refs(table, bucket, secret_arn))
        # The managed runtime's SnapStart module, so app.py's hook registration is observable.
        runtime = fake_runtime_module()
        env.setitem(sys.modules, "snapshot_restore_py", runtime)

        environments: dict[str, dict[str, str]] = {}
        modules: dict[str, ModuleType] = {}
        for logical_id, directory in (
            ("SessionFunction", "session"),
            ("ChatKitFunction", "chatkit"),
        ):
            variables = resolver.function_environment(logical_id)
            variables["AWS_LAMBDA_FUNCTION_NAME"] = f"todo-assistant-test-{directory}"
            environments[directory] = variables
            for name, value in variables.items():
                env.setenv(name, value)
            get_settings.cache_clear()
            if directory == "session":
                bind_table(get_settings())
                create_table_if_missing()
            modules[directory] = import_function(directory)
            # The next function's environment replaces this one's, as in its own sandbox.
            for name in variables:
                env.delenv(name)

        env.setenv("AWS_LAMBDA_FUNCTION_NAME", "todo-assistant-test")
        for name, value in environments["session"].items():
            env.setenv(name, value)
        get_settings.cache_clear()
        yield Deployed(
            session=Function(modules["session"], set()),
            chatkit=Function(modules["chatkit"], set()),
            secrets=build_client_secrets(get_settings()),
            identity=idp,
            environments=environments,
            runtime=runtime,
        )
    get_settings.cache_clear()
    mock.stop(remove_data=False)


def fresh_user(deployed: Deployed) -> tuple[str, str]:
    user = f"alice-{uuid.uuid4().hex[:8]}"
    return user, deployed.secrets.issue(user).client_secret


def test_template_environment_is_lambda_like(deployed: Deployed) -> None:
    for variables in deployed.environments.values():
        assert variables["AUTH_MODE"] == "oidc"
        assert variables["TOKEN_SIGNING_KEY_SECRET_ID"].startswith("arn:aws:secretsmanager:")
        assert "TOKEN_SIGNING_KEY" not in variables and "DYNAMODB_ENDPOINT" not in variables
    assert deployed.environments["chatkit"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    # No CORS middleware under Lambda: the function URL answers CORS there.
    for function in (deployed.session, deployed.chatkit):
        middleware = {m.cls.__name__ for m in function.app.user_middleware}  # type: ignore[attr-defined]
        assert "CORSMiddleware" not in middleware


def test_session_events(deployed: Deployed) -> None:
    session = deployed.session
    user = f"alice-{uuid.uuid4().hex[:8]}"

    reply = session.invoke("healthz")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})

    # The composer's configuration, as the template sets it for the session function.
    reply = session.invoke("config")
    assert reply.status == 200, reply.body
    assert "max-age" in reply.headers["cache-control"]
    config = reply.json()
    assert config["models"] == [{"id": "gpt-4.1-mini", "label": "GPT-4.1 MINI", "default": True}]
    assert config["attachments"]["enabled"] is True
    assert config["attachments"]["max_bytes"] == 10 * 1024 * 1024
    assert config["auth_mode"] == "oidc"

    # Sign-in: the identity provider's token (verified against its JWKS) -> a client secret.
    reply = session.invoke("session-create", id_token=deployed.identity.id_token(user))
    assert reply.status == 200, reply.body
    secret = reply.json()["client_secret"]
    assert deployed.secrets.verify(secret).user_id == user
    forged = deployed.identity.id_token(user, aud="someone-else")
    reply = session.invoke("session-create", id_token=forged)
    assert (reply.status, reply.json()["error"]) == (401, "unauthorized"), reply.body

    reply = session.invoke("session-refresh", client_secret=secret)
    assert reply.status == 200, reply.body
    refreshed = reply.json()
    assert set(refreshed) == {"client_secret", "expires_at"}
    assert deployed.secrets.verify(refreshed["client_secret"]).user_id == user

    reply = session.invoke("tasks-list", client_secret=secret)
    assert (reply.status, reply.json()) == (200, {"tasks": []})

    reply = session.invoke("tasks-create", client_secret=secret)
    assert reply.status == 201, reply.body
    task = reply.json()
    assert (task["title"], task["priority"], task["due_date"], task["status"]) == (
        "Buy milk",
        "high",
        "2026-12-01",
        "pending",
    )
    number = str(task["number"])

    reply = session.invoke("tasks-list", client_secret=secret)
    assert [t["number"] for t in reply.json()["tasks"]] == [task["number"]]

    reply = session.invoke("tasks-get", client_secret=secret, task_number=number)
    assert (reply.status, reply.json()["title"]) == (200, "Buy milk")

    reply = session.invoke("tasks-update", client_secret=secret, task_number=number)
    assert reply.status == 200, reply.body
    assert (reply.json()["status"], reply.json()["priority"]) == ("completed", "low")
    assert reply.json()["completed_at"]

    # tasks-list asks for pending ones only: the completed task is gone from it.
    assert session.invoke("tasks-list", client_secret=secret).json() == {"tasks": []}

    reply = session.invoke("tasks-delete", client_secret=secret, task_number=number)
    assert (reply.status, reply.body) == (204, "")
    reply = session.invoke("tasks-get", client_secret=secret, task_number=number)
    assert (reply.status, reply.json()["error"]) == (404, "not_found")

    # The user's data as a whole: an export link, then the erase (after which none is left).
    reply = session.invoke("me-export", client_secret=secret)
    assert reply.status == 200, reply.body
    assert reply.json()["counts"]["tasks"] == 0 and reply.json()["bytes"] > 0
    session.invoke("tasks-create", client_secret=secret)
    reply = session.invoke("me-delete", client_secret=secret)
    assert reply.status == 200, reply.body
    assert reply.json()["deleted"]["rows"] >= 2 and reply.json()["deleted"]["objects"] == 1
    assert session.invoke("tasks-list", client_secret=secret).json() == {"tasks": []}

    # Another user's secret sees nothing of alice's; a forged one is refused.
    _, other = fresh_user(deployed)
    created = session.invoke("tasks-create", client_secret=secret).json()["number"]
    reply = session.invoke("tasks-get", client_secret=other, task_number=str(created))
    assert reply.status == 404
    reply = session.invoke("tasks-list", client_secret=secret[:-4] + "AAAA")
    assert (reply.status, reply.json()["error"]) == (401, "unauthorized")
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_chatkit_events(deployed: Deployed) -> None:
    chatkit = deployed.chatkit
    _, secret = fresh_user(deployed)

    reply = chatkit.invoke("healthz")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})

    reply = chatkit.invoke("threads-create", client_secret=secret)
    assert reply.status == 200, reply.body
    assert reply.headers["cache-control"] == "no-cache"
    events = reply.sse()
    assert_turn(events, creates_thread=True)
    thread_id = events[0]["thread"]["id"]
    user_item = next(e["item"]["id"] for e in events if e["type"] == "thread.item.done")
    effects = [e for e in events if e["type"] == "client_effect"]
    assert effects and effects[0]["name"] == "tasks_changed", kinds_of(events)
    assert effects[0]["data"]["action"] == "created"
    assert "thread.updated" in kinds_of(events), "the first message titles the thread"
    # Mangum sends the whole answer at the end: nothing to stop, so Stop is not offered.
    options = [e["stream_options"] for e in events if e["type"] == "stream_options"]
    assert options == [{"allow_cancel": False}], options

    # The agent's task is in the same table the session function's tasks API reads.
    tasks = deployed.session.invoke("tasks-list", client_secret=secret).json()["tasks"]
    assert [t["title"].lower() for t in tasks] == ["buy milk"], tasks

    reply = chatkit.invoke("threads-add-user-message", client_secret=secret, thread_id=thread_id)
    assert reply.status == 200, reply.body
    events = reply.sse()
    assert_turn(events, creates_thread=False)
    assistant_item = [e["item"]["id"] for e in events if e["type"] == "thread.item.done"][-1]

    reply = chatkit.invoke("threads-list", client_secret=secret)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    page = reply.json()
    assert [t["id"] for t in page["data"]] == [thread_id] and page["has_more"] is False

    reply = chatkit.invoke("threads-get-by-id", client_secret=secret, thread_id=thread_id)
    assert reply.status == 200, reply.body
    thread = reply.json()
    assert thread["id"] == thread_id and thread["title"]
    assert [i["type"] for i in thread["items"]["data"]][:1] == ["user_message"]

    reply = chatkit.invoke("items-list", client_secret=secret, thread_id=thread_id)
    assert reply.status == 200, reply.body
    items = reply.json()["data"]
    ids = [item["id"] for item in items]
    assert ids[0] == user_item and assistant_item in ids
    assert [i["type"] for i in items].count("user_message") == 2

    reply = chatkit.invoke(
        "items-feedback", client_secret=secret, thread_id=thread_id, item_id=assistant_item
    )
    assert (reply.status, reply.json()) == (200, {}), reply.body

    reply = chatkit.invoke("threads-update", client_secret=secret, thread_id=thread_id)
    assert (reply.status, reply.json()["title"]) == (200, "Groceries"), reply.body

    # Retry after the first user message: later items go, the assistant answers it again.
    reply = chatkit.invoke(
        "threads-retry-after-item", client_secret=secret, thread_id=thread_id, item_id=user_item
    )
    assert reply.status == 200, reply.body
    events = reply.sse()
    assert item_types(events, "thread.item.done")[-1] == "assistant_message", kinds_of(events)
    assert kinds_of(events)[0] != "thread.created" and "error" not in kinds_of(events)
    items = chatkit.invoke("items-list", client_secret=secret, thread_id=thread_id).json()["data"]
    assert [i["type"] for i in items].count("user_message") == 1

    reply = chatkit.invoke("malformed", client_secret=secret)
    assert reply.status == 400, reply.body
    assert reply.json()["error"] == "invalid_request"

    # Stop with no turn running: accepted and harmless (the next turn starts after it).
    reply = chatkit.invoke("chatkit-cancel", client_secret=secret, thread_id=thread_id)
    assert (reply.status, reply.json()["status"]) == (202, "stop_requested"), reply.body

    reply = chatkit.invoke("threads-delete", client_secret=secret, thread_id=thread_id)
    assert (reply.status, reply.json()) == (200, {}), reply.body
    reply = chatkit.invoke("chatkit-cancel", client_secret=secret, thread_id=thread_id)
    assert (reply.status, reply.json()["error"]) == (404, "not_found"), reply.body
    reply = chatkit.invoke("threads-get-by-id", client_secret=secret, thread_id=thread_id)
    assert (reply.status, reply.json()["error"]) == (404, "not_found")
    assert chatkit.invoke("threads-list", client_secret=secret).json()["data"] == []

    # Without a bearer, or with an expired one, nothing is read or written.
    expired = deployed.secrets.issue("alice", now=1_000_000_000).client_secret
    reply = chatkit.invoke("threads-list", client_secret=expired)
    assert (reply.status, reply.json()["error"]) == (401, "unauthorized")


def test_every_event_was_run(deployed: Deployed) -> None:
    """Each file in events/ served one of the flows above (run here if they were deselected)."""
    if not deployed.session.used:
        test_session_events(deployed)
    if not deployed.chatkit.used:
        test_chatkit_events(deployed)
    files = {str(p.relative_to(EVENTS)) for p in EVENTS.glob("*/*.json")}
    used = deployed.session.used | deployed.chatkit.used
    assert files == used, f"never run: {sorted(files - used)}; missing: {sorted(used - files)}"


def test_every_route_has_an_event(deployed: Deployed) -> None:
    """Each route of each app (and each ChatKit request type asked for) has a sample event."""
    for function in (deployed.session, deployed.chatkit):
        routes = {
            (method, route.path)
            for route in function.app.routes
            if isinstance(route, APIRoute) and not route.path.startswith("/_snapstart/")
            for method in route.methods
        }
        events = set()
        for path in (EVENTS / function.module.FUNCTION_DIR).glob("*.json"):
            event = json.loads(path.read_text())
            raw_path = event["rawPath"].replace("{{task_number}}", "{number}")
            events.add((event["requestContext"]["http"]["method"], raw_path))
        assert routes <= events, f"routes without an event: {sorted(routes - events)}"

    request_types = set()
    for path in (EVENTS / "chatkit").glob("*.json"):
        event = json.loads(path.read_text())
        body = event.get("body")
        if body and event["rawPath"] == "/chatkit":
            try:
                request_types.add(json.loads(body)["type"])
            except json.JSONDecodeError:
                request_types.add("<malformed>")
    assert request_types == {
        "threads.create",
        "threads.add_user_message",
        "threads.list",
        "threads.get_by_id",
        "threads.update",
        "threads.delete",
        "items.list",
        "items.feedback",
        "threads.retry_after_item",
        "<malformed>",
    }


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*/*.json")), ids=lambda p: p.stem)
def test_event_is_a_function_url_payload(path: Path) -> None:
    """The shape function URLs send: API Gateway HTTP API payload 2.0, lower-case headers."""
    event = json.loads(path.read_text())
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    http = event["requestContext"]["http"]
    assert http["path"] == event["rawPath"]
    assert event["headers"]["host"] == event["requestContext"]["domainName"]
    assert event["requestContext"]["domainName"].endswith(".lambda-url.us-east-1.on.aws")
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False
    if http["method"] in {"GET", "DELETE"}:
        assert "body" not in event
    if "authorization" in event["headers"]:
        # Sign-in sends the identity provider's token; everything else a client secret.
        expected = "id_token" if path.stem == "session-create" else "client_secret"
        assert event["headers"]["authorization"] == "Bearer {{" + expected + "}}"


def test_snapstart_hooks_then_the_functions_keep_serving(deployed: Deployed) -> None:
    """Run the hooks each app.py registered, as the runtime does around a snapshot."""
    runtime: Any = deployed.runtime
    assert len(runtime.before) == len(runtime.after) == 2, "one pair per function"
    try:
        for hook, args, kwargs in runtime.before:
            assert hook(*args, **kwargs) is not None
    finally:
        gc.unfreeze()
    for hook, args, kwargs in runtime.after:
        hook(*args, **kwargs)

    # Fresh connections and a re-read signing key, lazily, on the first requests.
    user = f"restored-{uuid.uuid4().hex[:8]}"
    reply = deployed.session.invoke("session-create", id_token=deployed.identity.id_token(user))
    secret = reply.json()["client_secret"]
    assert deployed.session.invoke("tasks-list", client_secret=secret).status == 200
    assert deployed.chatkit.invoke("threads-list", client_secret=secret).status == 200


@pytest.mark.parametrize(
    "variable", ["AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH", "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"]
)
def test_chatkit_answers_the_adapter_snapstart_paths(deployed: Deployed, variable: str) -> None:
    """The Web Adapter POSTs an empty body to these paths and needs a 2xx."""
    path = deployed.environments["chatkit"][variable]
    event = copy.deepcopy(json.loads((EVENTS / "chatkit/healthz.json").read_text()))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = "POST"
    try:
        response = deployed.chatkit.module.handler(event, None)
    finally:
        gc.unfreeze()
    assert response["statusCode"] == 200, response
    session_paths = {getattr(route, "path", "") for route in deployed.session.app.routes}
    assert path not in session_paths, "only the function behind the adapter has them"
