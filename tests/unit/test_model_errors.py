"""Model failures: their kinds, the one log line, how a broken turn is settled; request settings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import httpx2
import openai
import pytest
from agents.exceptions import ModelBehaviorError
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from tests.support.logs import captured_logs
from tests.support.settings import make_settings
from todo_assistant.agent.history import is_failed_turn_marker
from todo_assistant.chat.model_errors import (
    FAILURE_KINDS,
    FAILURES,
    INTERRUPTED_NOTICE,
    classify,
    guard_model_failures,
    log_failure,
)
from todo_assistant.llm.request_settings import safety_identifier
from todo_assistant.metrics import start_turn
from todo_assistant.wiring.chatkit import request_settings

REQUEST = httpx2.Request("POST", "https://api.example/v1/responses")


def status_error(cls: type[openai.APIStatusError], status: int) -> openai.APIStatusError:
    response = httpx2.Response(status, request=REQUEST, headers={"x-request-id": "req_up_1"})
    return cls("secret upstream text", response=response, body=None)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (status_error(openai.RateLimitError, 429), "rate_limited"),
        (status_error(openai.InternalServerError, 500), "server_error"),
        (status_error(openai.InternalServerError, 503), "server_error"),
        (openai.APITimeoutError(request=REQUEST), "timeout"),
        (status_error(openai.BadRequestError, 400), "refused"),
        (status_error(openai.UnprocessableEntityError, 422), "refused"),
        (status_error(openai.AuthenticationError, 401), "unavailable"),
        (status_error(openai.NotFoundError, 404), "unavailable"),
        (openai.APIConnectionError(request=REQUEST), "connection_lost"),
        (httpx.ReadError("peer closed"), "connection_lost"),
        (ModelBehaviorError("Model returned response.failed: boom"), "server_error"),
        (RuntimeError("a bug of ours"), "internal"),
    ],
)
def test_each_error_has_its_kind(error: BaseException, kind: str):
    failure = classify(error)
    assert failure.kind == kind
    assert "secret" not in failure.message and "upstream" not in failure.message


def test_every_kind_has_a_message_and_a_retry_rule():
    assert set(FAILURES) == set(FAILURE_KINDS)
    retry = {kind for kind, failure in FAILURES.items() if failure.allow_retry}
    assert retry == {"rate_limited", "server_error", "timeout", "connection_lost", "internal"}


def test_one_log_line_per_failure_with_a_traceback_only_for_our_bugs():
    turn = start_turn(request_id="req-123")
    with captured_logs() as logs:
        error = status_error(openai.RateLimitError, 429)
        log_failure(classify(error), error, model="gpt-test")
        try:
            raise RuntimeError("boom")
        except RuntimeError as bug:
            log_failure(classify(bug), bug, model="gpt-test")
    lines = [json.loads(line) for line in logs.powertools.getvalue().splitlines()]
    assert len(lines) == 2
    limited, bug = lines
    assert limited["kind"] == "rate_limited" and limited["status"] == 429
    assert limited["model_request_id"] == "req_up_1"
    assert limited["request_id"] == turn.request_id == "req-123"
    assert "exception" not in limited and "secret upstream text" not in json.dumps(limited)
    assert bug["kind"] == "internal" and "RuntimeError: boom" in bug["exception"]


def assistant_added(item_id: str) -> ThreadItemAddedEvent:
    return ThreadItemAddedEvent(
        item=AssistantMessageItem(
            id=item_id, thread_id="thr", created_at=datetime.now(), content=[]
        )
    )


def delta(item_id: str, text: str) -> ThreadItemUpdatedEvent:
    return ThreadItemUpdatedEvent(
        item_id=item_id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=text)
    )


async def broken(*events: ThreadStreamEvent) -> AsyncIterator[ThreadStreamEvent]:
    for event in events:
        yield event
    raise openai.APIConnectionError(request=REQUEST)


async def settle(*events: ThreadStreamEvent) -> tuple[list[ThreadStreamEvent], CustomStreamError]:
    out: list[ThreadStreamEvent] = []
    woken: list[bool] = []

    async def wake() -> None:
        woken.append(True)

    ids = iter(["msg_marker"])

    async def consume() -> None:
        async for event in guard_model_failures(
            broken(*events),
            thread_id="thr",
            new_item_id=lambda: next(ids),
            model="m",
            wake_event_reader=wake,
        ):
            out.append(event)

    with pytest.raises(CustomStreamError) as raised:
        await consume()
    assert woken == [True]
    return out[len(events) :], raised.value


async def test_a_partial_answer_is_kept_and_marked():
    settled, error = await settle(
        assistant_added("msg_1"), delta("msg_1", "Added "), delta("msg_1", "#1")
    )
    done, marker = settled
    assert isinstance(done, ThreadItemDoneEvent) and isinstance(done.item, AssistantMessageItem)
    assert done.item.id == "msg_1"
    assert done.item.content[0].text == "Added #1" + INTERRUPTED_NOTICE
    assert isinstance(marker, ThreadItemDoneEvent) and is_failed_turn_marker(marker.item)
    assert marker.item.content == {"turn_failed": "connection_lost", "incomplete_item_id": "msg_1"}
    assert error.message == FAILURES["connection_lost"].message and error.allow_retry


async def test_an_empty_answer_is_removed():
    settled, _ = await settle(assistant_added("msg_1"))
    removed, marker = settled
    assert removed == ThreadItemRemovedEvent(item_id="msg_1")
    assert isinstance(marker, ThreadItemDoneEvent)
    assert marker.item.content == {"turn_failed": "connection_lost"}


async def test_a_finished_answer_is_left_alone():
    item = AssistantMessageItem(id="msg_1", thread_id="thr", created_at=datetime.now(), content=[])
    settled, _ = await settle(assistant_added("msg_1"), ThreadItemDoneEvent(item=item))
    assert len(settled) == 1 and is_failed_turn_marker(settled[0].item)  # type: ignore[union-attr]


def test_request_settings_on_openai():
    settings = make_settings("http://x", "http://x", model_provider="openai", openai_api_key="sk")
    model_settings = request_settings(settings, "signing-key").for_user("alice")
    assert model_settings.store is False
    assert model_settings.max_tokens == settings.max_output_tokens
    identifier = model_settings.extra_args["safety_identifier"]  # type: ignore[index]
    assert (
        identifier
        == safety_identifier(b"signing-key", "alice")
        != safety_identifier(b"other", "alice")
    )
    assert "alice" not in identifier
    # A dedicated key wins over the signing key (so rotating that one changes nothing).
    dedicated = make_settings(
        "http://x",
        "http://x",
        model_provider="openai",
        openai_api_key="sk",
        safety_identifier_key="k2",
    )
    assert request_settings(dedicated, "signing-key").for_user("alice").extra_args == {
        "safety_identifier": safety_identifier(b"k2", "alice")
    }
    stored = make_settings(
        "http://x", "http://x", model_provider="openai", openai_api_key="sk", openai_store=True
    )
    assert request_settings(stored).for_user("alice").store is True


def test_request_settings_on_other_providers_cap_output_only():
    for provider in ("litellm", "local"):
        settings = make_settings(
            "http://x", "http://x", model_provider=provider, max_output_tokens=300
        )
        model_settings = request_settings(settings, "signing-key").for_user("alice")
        assert model_settings.max_tokens == 300
        assert model_settings.store is None and model_settings.extra_args is None
