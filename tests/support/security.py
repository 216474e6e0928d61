"""The attack suite's world (the fixtures are in tests/security/conftest.py): a victim A who
owns data and an attacker B, signed in to the real apps in AUTH_MODE=oidc, the ids a request
can name, and a counter for the attack requests tried."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.e2e import Stack
from tests.support.oidc import IdentityProvider
from tests.support.partitions import partition_items
from todo_assistant.config import Settings


class CaseCounter:
    def __init__(self) -> None:
        self.count = 0

    def tried(self, n: int = 1) -> None:
        self.count += n


@dataclass
class User:
    id: str
    app_token: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class Targets:
    """Ids a request can name. A's real ones, or fresh ones of the same shape nobody owns."""

    thread: str
    user_item: str
    assistant_item: str
    attachment: str
    task: int
    own_thread: str  # the attacker's own thread (the same in both sets)
    widget_item: str = ""  # A's task list widget, whose buttons B must not press

    def ids(self) -> list[str]:
        ids = [self.thread, self.user_item, self.assistant_item, self.attachment]
        return [*ids, self.widget_item] if self.widget_item else ids


@dataclass
class World:
    stack: Stack
    idp: IdentityProvider
    http: httpx.Client
    a: User
    b: User
    a_targets: Targets
    a_texts: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def base(self) -> str:
        return self.stack.base_url

    def sign_in(self, user_id: str) -> User:
        app_token = self.idp.token(user_id)
        response = self.http.post(
            f"{self.base}/session", headers={"Authorization": f"Bearer {app_token}"}
        )
        assert response.status_code == 200, response.text
        return User(user_id, app_token, response.json()["client_secret"])

    def chatkit(self, user: User | None, payload: Any, **headers: str) -> httpx.Response:
        """POST /chatkit and read the whole answer (JSON or an SSE stream)."""
        auth = user.auth if user else {}
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.http.post(
            f"{self.base}/chatkit",
            content=body,
            headers={"content-type": "application/json", **auth, **headers},
        )

    def snapshot(self, *users: User) -> dict[str, list[dict[str, Any]]]:
        """Every attribute of every row in these users' partitions, straight from DynamoDB."""
        return {user.id: partition_items(self.settings, user.id) for user in users}


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]


def fresh_user_id(role: str) -> str:
    return f"{role}-{uuid.uuid4().hex[:10]}"
