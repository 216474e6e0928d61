"""MODEL_PROVIDER=litellm: LiteLLM's OpenAI-compatible route, against the fake OpenAI server.

LiteLLM goes through the Agents SDK's Chat Completions converter, like OPENAI_API=
chat_completions; the same seven-turn conversation with tools runs on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.conversation import run_conversation
from tests.support.e2e import Stack, start_stack
from tests.support.fake_openai import FakeOpenAI
from tests.support.settings import bound_settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def litellm_stack(moto_endpoint: str, fake_openai: FakeOpenAI) -> Iterator[Stack]:
    # Imported here, not at collection: LiteLLM takes seconds to import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download at import
    litellm_model = pytest.importorskip("agents.extensions.models.litellm_model")
    settings = bound_settings(moto_endpoint, moto_endpoint)
    model = litellm_model.LitellmModel(
        model="openai/gpt-test", base_url=fake_openai.api_url, api_key="sk-test-not-a-real-key"
    )
    model.named = lambda _name: model  # type: ignore[attr-defined]  # one model id here
    yield from start_stack(settings, model)  # type: ignore[arg-type]


async def test_a_long_conversation_on_litellm(
    litellm_stack: Stack, fake_openai: FakeOpenAI, http, user_id
):
    await run_conversation(litellm_stack.base_url, fake_openai, http, user_id)
    assert {r.path for r in fake_openai.requests} == {"/v1/chat/completions"}
