"""Whole conversations on both OpenAI APIs, over HTTP, against the fake OpenAI server.

The apps are built from settings alone (MODEL_PROVIDER=openai, OPENAI_BASE_URL=<fake>/v1,
OPENAI_API=responses|chat_completions), so the real client, model classes and converters run.
After every turn: the tasks table, the thread as the client loads it, and what went out to
the model (history with every earlier tool call and its output, instructions, tools, request
settings).
"""

from __future__ import annotations

import pytest

from tests.support.chat import assistant_text
from tests.support.conversation import run_conversation
from tests.support.e2e import OpenAIStack
from tests.support.fake_openai import Say
from todo_assistant_dev.chat_client import ChatKitClient, create_thread_request

pytestmark = pytest.mark.e2e


async def test_a_long_conversation_with_tools(openai_stack: OpenAIStack, http, user_id):
    await run_conversation(openai_stack.base_url, openai_stack.fake, http, user_id)


async def test_request_settings_reach_the_model(openai_stack: OpenAIStack, http, user_id):
    fake = openai_stack.fake
    settings = openai_stack.settings
    ids = []
    for user in (user_id, user_id, f"{user_id}-other"):
        client = ChatKitClient(openai_stack.base_url, http)
        await client.sign_in(user)
        fake.script(Say("Hi!"))
        events = [e async for e in client.stream(create_thread_request("hello"))]
        assert assistant_text(events) == "Hi!"
        body = fake.requests[-1].body
        assert body["store"] is False
        cap = "max_output_tokens" if "input" in body else "max_tokens"
        assert body[cap] == settings.max_output_tokens
        ids.append(body["safety_identifier"])
        assert user not in body["safety_identifier"]
    # Stable per user, different between users, never the id itself.
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("u_") and len(ids[0]) == 34
