"""The identity provider's signing keys (JWKS): PyJWT's client with a safer way of fetching.

`jwt.PyJWKClient` keeps the cache and the unknown-`kid` cooldown; this subclass only replaces
how the document is fetched, because PyJWT's fetch
- has a per-read timeout, not an overall one: a server that drips one byte a second keeps a
  sign-in waiting until Lambda's own timeout;
- starts its cooldown only after a *successful* fetch: while the provider is down, every
  token with an unknown `kid` triggers a fresh fetch, so anyone can make each sign-in wait on
  the failing provider;
- reports a body that is not JSON (an HTML error page with status 200) as a decode error.

Here a fetch has an overall deadline and a size cap, and any failure (network, status, not
JSON, no usable keys) means the provider is not asked again for `failure_cooldown` seconds.
PyJWT still parses the keys and does all the cryptography.

What the two cache settings mean for key rotation at the provider:
- a newly published key is refused for up to `cooldown` seconds (if a token signed with it
  arrives within that time of the last fetch), then fetched;
- a key the provider removed stays trusted until the cached set expires, up to `lifespan`.

httpx (~20 ms to import) is imported by the first fetch, or before the SnapStart snapshot of
a process that has a `JwksClient` (first_use.py): not at import, which the chatkit function
(it verifies client secrets only) would pay for too.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from typing import Any

from jwt import PyJWKClient, PyJWKClientConnectionError, PyJWKSet
from jwt.exceptions import PyJWKSetError

from todo_assistant.first_use import before_snapshot

# A JWKS holds a handful of keys (a few KB); anything far larger is not one.
MAX_JWKS_BYTES = 256 * 1024


class JwksFetchError(Exception):
    """The provider's key set could not be read (a safe, short description)."""


def fetch_jwks(
    url: str, *, deadline_seconds: float, max_bytes: int = MAX_JWKS_BYTES
) -> dict[str, Any]:
    """GET the key set within `deadline_seconds` overall; its JSON object, or JwksFetchError.

    No single read waits longer than half the deadline, and the deadline is checked after
    every chunk, so the whole fetch ends within about 1.5 times the deadline whatever the
    server does.
    """
    import httpx

    deadline = time.monotonic() + deadline_seconds
    body = bytearray()
    try:
        with (
            httpx.Client(
                timeout=httpx.Timeout(deadline_seconds / 2),
                follow_redirects=False,
                headers={"User-Agent": "todo-assistant", "Accept": "application/json"},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise JwksFetchError(f"larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise JwksFetchError(f"not received within {deadline_seconds:g} s")
    except httpx.HTTPError as error:
        raise JwksFetchError(f"{type(error).__name__}: {error}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise JwksFetchError("the answer is not JSON") from None
    if not isinstance(data, dict):
        raise JwksFetchError("the answer is not a JSON object")
    return data


def import_http_client() -> None:
    """What the first fetch imports, imported ahead of it (before a SnapStart snapshot)."""
    importlib.import_module("httpx")


class JwksClient(PyJWKClient):
    def __init__(
        self,
        uri: str,
        *,
        lifespan: float,
        cooldown: float,
        failure_cooldown: float,
        deadline_seconds: float,
    ) -> None:
        super().__init__(
            uri,
            cache_jwk_set=True,
            lifespan=lifespan,
            cooldown_duration=cooldown,
            timeout=deadline_seconds,
        )
        self.failure_cooldown = failure_cooldown
        self.deadline_seconds = deadline_seconds
        self._failed_at: float | None = None
        before_snapshot(import_http_client)

    def retry_after_seconds(self) -> int:
        """When asking again may help: what is left of the failure cooldown (at least 1 s)."""
        if self._failed_at is None:
            return max(1, math.ceil(self.failure_cooldown))
        left = self.failure_cooldown - (time.monotonic() - self._failed_at)
        return max(1, math.ceil(left))

    def fetch_data(self) -> Any:
        # Called by PyJWKClient under its lock, so concurrent sign-ins share one fetch.
        now = time.monotonic()
        if self._failed_at is not None and now - self._failed_at < self.failure_cooldown:
            raise PyJWKClientConnectionError(
                "the identity provider failed recently; not asked again yet"
            )
        try:
            data = fetch_jwks(self.uri, deadline_seconds=self.deadline_seconds)
            usable = PyJWKSet.from_dict(data).keys  # raises when no key is usable
            if not any(key.public_key_use in ("sig", None) and key.key_id for key in usable):
                raise JwksFetchError("no signing keys")
        except (JwksFetchError, PyJWKSetError) as error:
            self._failed_at = now
            raise PyJWKClientConnectionError(f"JWKS fetch failed: {error}") from error
        self._failed_at = None
        # What PyJWT's own fetch_data does on success: cache, and start the unknown-kid cooldown.
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        self._last_successful_fetch = time.monotonic()
        return data
