"""A small ChatKit protocol client over httpx (used by the terminal chat and the tests)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse


class ChatKitClient:
    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0))
        self.client_secret: str | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def sign_in(self, user_id: str) -> str:
        """Dev sign-in; a real front end exchanges its app token instead."""
        response = await self._http.post(f"{self.base_url}/session", json={"user_id": user_id})
        response.raise_for_status()
        self.client_secret = str(response.json()["client_secret"])
        return self.client_secret

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client_secret}"} if self.client_secret else {}

    async def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A non-streaming ChatKit request (threads.list, items.list, ...)."""
        response = await self._http.post(
            f"{self.base_url}/chatkit", json=payload, headers=self._headers()
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A streaming ChatKit request: yields each SSE event as it arrives."""
        async with aconnect_sse(
            self._http,
            "POST",
            f"{self.base_url}/chatkit",
            json=payload,
            headers=self._headers(),
        ) as source:
            if source.response.status_code >= 400:
                await source.response.aread()
                source.response.raise_for_status()
            async for sse in source.aiter_sse():
                if sse.data:
                    yield json.loads(sse.data)


def user_message(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


def create_thread_request(text: str) -> dict[str, Any]:
    return {"type": "threads.create", "params": {"input": user_message(text)}}


def add_message_request(thread_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": user_message(text)},
    }


def client_tool_output_request(thread_id: str, result: Any) -> dict[str, Any]:
    """The browser's answer to the pending client tool call of a thread."""
    return {
        "type": "threads.add_client_tool_output",
        "params": {"thread_id": thread_id, "result": result},
    }
