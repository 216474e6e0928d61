"""The front end's custom `fetch` (docs/auth.md), step for step over HTTP: send the client
secret; on a 401 refresh it once (or sign in again with the app token) and retry once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.e2e import Stack, start_stack
from tests.support.oidc import (
    SIGNING_KEY,
    IdentityProvider,
    oidc_overrides,
    run_identity_provider,
)
from tests.support.settings import bound_settings
from todo_assistant.auth.client_secrets import ClientSecretService
from todo_assistant.llm.local.model import LocalTodoModel

pytestmark = pytest.mark.e2e


class ChatKitFetch:
    """Mirrors `chatkitFetch` in docs/auth.md."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, app_token: Callable[[], str]
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.app_token = app_token
        self.secret: str | None = None

    async def _sign_in(self) -> str:
        response = await self.http.post(
            f"{self.base_url}/session", headers={"Authorization": f"Bearer {self.app_token()}"}
        )
        response.raise_for_status()
        return str(response.json()["client_secret"])

    async def client_secret(self, *, renew: bool = False) -> str:
        if self.secret is None:
            self.secret = await self._sign_in()
        elif renew:
            refreshed = await self.http.post(
                f"{self.base_url}/session/refresh", json={"client_secret": self.secret}
            )
            if refreshed.status_code == 200:
                self.secret = str(refreshed.json()["client_secret"])
            else:
                # Too old to refresh: the app token signs the user in again.
                self.secret = await self._sign_in()
        return self.secret

    async def __call__(self, url: str, body: dict[str, Any]) -> httpx.Response:
        async def send(secret: str) -> httpx.Response:
            return await self.http.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"},
            )

        response = await send(await self.client_secret())
        if response.status_code == 401:
            response = await send(await self.client_secret(renew=True))
        return response


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with run_identity_provider() as provider:
        yield provider


@pytest.fixture
def oidc_stack(moto_endpoint: str, idp: IdentityProvider) -> Iterator[Stack]:
    settings = bound_settings(moto_endpoint, moto_endpoint, **oidc_overrides(idp))
    yield from start_stack(settings, LocalTodoModel())


@pytest.fixture
async def traced() -> Any:
    calls: list[tuple[str, int]] = []

    async def record(response: httpx.Response) -> None:
        calls.append((response.request.url.path, response.status_code))

    async with httpx.AsyncClient(timeout=30, event_hooks={"response": [record]}) as client:
        client.calls = calls  # type: ignore[attr-defined]
        yield client


def minted(stack: Stack, user: str, *, age: int) -> str:
    service = ClientSecretService(
        {"k1": SIGNING_KEY},
        "k1",
        audience=stack.settings.token_audience,
        issuer=stack.settings.token_issuer,
        ttl_seconds=stack.settings.client_secret_ttl_seconds,
    )
    return service.issue(user, now=time.time() - age).client_secret


LIST = {"type": "threads.list", "params": {"limit": 5}}


async def test_expired_secret_is_refreshed_once_and_the_request_retried(
    oidc_stack, idp, traced, user_id
):
    fetch = ChatKitFetch(traced, oidc_stack.base_url, lambda: idp.token(user_id))
    fetch.secret = minted(oidc_stack, user_id, age=1_000)  # expired 100 s ago, within grace
    response = await fetch(f"{oidc_stack.base_url}/chatkit", LIST)
    assert response.status_code == 200
    assert response.json()["data"] == []
    assert traced.calls == [("/chatkit", 401), ("/session/refresh", 200), ("/chatkit", 200)]


async def test_too_old_secret_falls_back_to_the_app_token(oidc_stack, idp, traced, user_id):
    fetch = ChatKitFetch(traced, oidc_stack.base_url, lambda: idp.token(user_id))
    fetch.secret = minted(oidc_stack, user_id, age=3_600)
    response = await fetch(f"{oidc_stack.base_url}/chatkit", LIST)
    assert response.status_code == 200
    assert traced.calls == [
        ("/chatkit", 401),
        ("/session/refresh", 401),
        ("/session", 200),
        ("/chatkit", 200),
    ]


async def test_first_call_signs_in_and_a_valid_secret_is_reused(oidc_stack, idp, traced, user_id):
    fetch = ChatKitFetch(traced, oidc_stack.base_url, lambda: idp.token(user_id))
    for _ in range(2):
        assert (await fetch(f"{oidc_stack.base_url}/chatkit", LIST)).status_code == 200
    assert traced.calls == [("/session", 200), ("/chatkit", 200), ("/chatkit", 200)]


async def test_the_retried_answer_is_returned_as_it_is(oidc_stack, idp, traced, user_id):
    fetch = ChatKitFetch(traced, oidc_stack.base_url, lambda: idp.token(user_id))
    fetch.secret = minted(oidc_stack, user_id, age=1_000)
    # One refresh, one retry, and whatever that answers (here a 404) goes back to ChatKit.
    body = {"type": "threads.get_by_id", "params": {"thread_id": "thr_missing"}}
    response = await fetch(f"{oidc_stack.base_url}/chatkit", body)
    assert response.status_code == 404
    assert [path for path, _ in traced.calls].count("/chatkit") == 2
