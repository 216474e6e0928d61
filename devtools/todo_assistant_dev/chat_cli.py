"""`make chat`: talk to the Todo assistant from a terminal over the ChatKit protocol."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import httpx

from todo_assistant_dev.chat_client import (
    ChatKitClient,
    add_message_request,
    client_tool_output_request,
    create_thread_request,
)


async def send(client: ChatKitClient, thread_id: str | None, text: str) -> str | None:
    payload = add_message_request(thread_id, text) if thread_id else create_thread_request(text)
    thread_id, waiting = await show(client, payload, thread_id)
    while waiting and thread_id:
        # The terminal plays the dashboard: it acknowledges every client tool call.
        answer = client_tool_output_request(thread_id, {"ok": True})
        thread_id, waiting = await show(client, answer, thread_id)
    return thread_id


async def show(
    client: ChatKitClient, payload: dict[str, Any], thread_id: str | None
) -> tuple[str | None, bool]:
    """Print one streamed answer; (thread id, whether a client tool call is waiting)."""
    printed_prefix = False
    waiting = False
    async for event in client.stream(payload):
        kind = event.get("type")
        item: dict[str, Any] = event.get("item") or {}
        if kind == "thread.created":
            thread_id = event["thread"]["id"]
            print(f"(thread {thread_id})", flush=True)
        elif kind == "progress_update":
            print(f"  … {event.get('text')}", flush=True)
        elif kind == "thread.item.done" and item.get("type") == "widget":
            for line in str(item.get("copy_text") or "").splitlines():
                print(f"  | {line}", flush=True)
        elif kind == "thread.item.done" and item.get("type") == "client_tool_call":
            waiting = item.get("status") == "pending"
            print(f"  [dashboard: {item.get('name')} {item.get('arguments')}]", flush=True)
        elif kind == "thread.item.updated":
            update: dict[str, Any] = event.get("update", {})
            if update.get("type") == "assistant_message.content_part.text_delta":
                if not printed_prefix:
                    print("assistant> ", end="", flush=True)
                    printed_prefix = True
                print(update.get("delta", ""), end="", flush=True)
        elif kind == "client_effect":
            effect = event.get("data", {})
            task = effect.get("task", {})
            print(f"  [{effect.get('action')} #{task.get('number')}]", flush=True)
        elif kind == "error":
            print(f"\n[error: {event.get('message') or event.get('code')}]", flush=True)
    if printed_prefix:
        print(flush=True)
    return thread_id, waiting


async def run(args: argparse.Namespace) -> int:
    client = ChatKitClient(args.url)
    try:
        await client.sign_in(args.user)
        thread_id: str | None = args.thread
        messages = [args.message] if args.message else None
        if messages is None:
            print(f"Signed in as {args.user}. Type a message (Ctrl-D to quit).", flush=True)
        while True:
            if messages is not None:
                if not messages:
                    break
                text = messages.pop(0)
                print(f"you> {text}", flush=True)
            else:
                try:
                    text = await asyncio.to_thread(input, "you> ")
                except EOFError:
                    print()
                    break
            if not text.strip():
                continue
            thread_id = await send(client, thread_id, text)
        if thread_id:
            print(f"Resume this conversation with: --thread {thread_id}", flush=True)
        return 0
    except httpx.HTTPError as error:
        print(f"error talking to {args.url}: {error}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("TODO_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--user", default=os.environ.get("TODO_USER", "alice"))
    parser.add_argument("--thread", help="continue an existing thread")
    parser.add_argument("-m", "--message", help="send one message and exit")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
