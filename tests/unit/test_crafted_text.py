"""Crafted text cannot stall the local model: parsing is linear and runs off the event loop.

The only timing checks in the suite live here, on purpose: a regular expression that
backtracks takes seconds on a kilobyte and hours on a megabyte, so a generous ceiling (far
above what linear parsing needs on a loaded CI machine, far below what backtracking needs)
tells the two apart without being flaky.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date

import pytest
from agents import ModelSettings, ModelTracing

from todo_assistant.llm.local.intents import MAX_REQUEST_CHARS, parse_request, small_talk
from todo_assistant.llm.local.model import LocalTodoModel

MIB = 1 << 20
TODAY = date(2026, 11, 23)


def crafted(size: int) -> dict[str, str]:
    """The worst case of every pattern the grammar has had, at about `size` characters."""

    def run(unit: str, prefix: str = "", suffix: str = "") -> str:
        return prefix + unit * (size // len(unit)) + suffix

    return {
        "run of spaces": run(" ", "mark ", "x"),
        "run of spaces between words": run(" ", "a", "b"),
        "run of tabs and newlines": run("\t \n", "add ", "x"),
        "repeated list verb": run("show "),
        "repeated list verb, no noun": run("show ", "", "x"),
        "run of commas": run(",", "add x", "y"),
        "run of parentheses": run("(", "add x"),
        "dots and spaces": run(". ", "add x", "z"),
        "lazy reference": run("a ", "mark ", "b"),
        "repeated 'to'": run("to ", "rename "),
        "repeated 'x to'": run("x to ", "change ", "!"),
        "repeated filter word": run("about ", "show tasks "),
        "repeated 'is'": run("is ", "x "),
        "repeated 'the priority of'": run("the priority of ", "set ", "x"),
        "due date with no date": run("x to ", "set the due date of "),
        "reschedule with no date": run("x to ", "move "),
        "repeated priority word": run("high ", "add "),
        "repeated preposition": run("by ", "add x ", "friday"),
        "repeated politeness": run("please ", "add x "),
        "greeting and commas": run(", ", "hey", "x"),
        "repeated date words": run("next ", "add x by "),
    }


# Generous: linear parsing of 1 MiB takes well under this even on a busy CI machine. Measured
# as this thread's CPU time, so other threads of the test process (live servers) waiting for
# or holding the GIL cannot make linear work look slow.
CEILING_SECONDS = 2.0


@pytest.mark.parametrize("name", list(crafted(64)))
def test_one_mib_messages_are_answered_quickly(name):
    text = crafted(MIB)[name]
    model = LocalTodoModel()
    started = time.thread_time()
    reply = model.decide(text, [])
    elapsed = time.thread_time() - started
    assert elapsed < CEILING_SECONDS, f"{name}: {elapsed:.2f}s"
    # Far over the cap: not read as a request, and the reply does not echo it back.
    assert "too long" in reply.content[0].text  # type: ignore[union-attr]
    assert len(reply.content[0].text) < 500  # type: ignore[union-attr]


@pytest.mark.parametrize("name", list(crafted(64)))
def test_parsing_is_linear_even_without_the_cap(name):
    # 64 KiB with the cap lifted: backtracking patterns needed minutes here (a 30 KB run of
    # "show " took 5 s, 4 KB of spaces minutes); linear ones need milliseconds.
    text = crafted(64 * 1024)[name]
    started = time.thread_time()
    parse_request(text, today=TODAY, max_chars=len(text))
    small_talk(text)
    elapsed = time.thread_time() - started
    assert elapsed < CEILING_SECONDS, f"{name}: {elapsed:.2f}s"


@pytest.mark.parametrize("name", list(crafted(64)))
def test_crafted_text_at_the_cap_is_parsed(name):
    text = crafted(MAX_REQUEST_CHARS - 16)[name]
    started = time.thread_time()
    parse_request(text, today=TODAY)
    assert time.thread_time() - started < CEILING_SECONDS


def test_the_cap_is_on_the_raw_message():
    assert parse_request("show my tasks" + " " * MAX_REQUEST_CHARS) is None
    assert parse_request("show my tasks" + " " * 100) is not None


async def test_decide_runs_in_a_worker_thread():
    seen: list[int] = []

    class Recording(LocalTodoModel):
        def decide(self, input, tools, *args):  # type: ignore[no-untyped-def]
            seen.append(threading.get_ident())
            return super().decide(input, tools, *args)

    model = Recording()
    loop_thread = threading.get_ident()
    kwargs = {
        "previous_response_id": None,
        "conversation_id": None,
        "prompt": None,
    }
    await model.get_response(
        None, "hello", ModelSettings(), [], None, [], ModelTracing.DISABLED, **kwargs
    )
    events = [
        event
        async for event in model.stream_response(
            None, "hello", ModelSettings(), [], None, [], ModelTracing.DISABLED, **kwargs
        )
    ]
    assert events[-1].type == "response.completed"
    assert len(seen) == 2 and loop_thread not in seen


async def test_the_loop_keeps_serving_while_a_message_is_parsed():
    # Not a timing check: a heartbeat task must get to run while decide() is in progress,
    # which is impossible if decide() holds the event loop.
    started = threading.Event()
    release = threading.Event()

    class Slow(LocalTodoModel):
        def decide(self, input, tools, *args):  # type: ignore[no-untyped-def]
            started.set()
            assert release.wait(10)
            return super().decide(input, tools, *args)

    async def heartbeat() -> str:
        assert await asyncio.to_thread(started.wait, 10)
        release.set()
        return "alive"

    response, beat = await asyncio.gather(
        Slow().get_response(
            None,
            "hello",
            ModelSettings(),
            [],
            None,
            [],
            ModelTracing.DISABLED,
            previous_response_id=None,
            conversation_id=None,
            prompt=None,
        ),
        heartbeat(),
    )
    assert beat == "alive"
    assert response.output
