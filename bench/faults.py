"""Faults under load, bigger than the CI suite: DynamoDB throttling, internal errors and dropped
connections injected between the apps and DynamoDB Local while many users chat over HTTP.

Prints the same figures as tests/e2e/test_faults.py (turns, faults injected, acknowledged,
errors, lost, duplicated) and exits non-zero if anything was lost or duplicated.

    python -m bench.faults [--users 12] [--turns 10] [--fraction 0.1] [--seed 14] [--retries 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections import Counter

from agents import set_tracing_disabled

from bench.support import bench_settings, dynamodb_backend
from todo_assistant.context import RequestContext
from todo_assistant.db.table import create_table_if_missing
from todo_assistant.llm.local.model import LocalTodoModel
from todo_assistant.tasks.models import StatusFilter
from todo_assistant.wiring.chatkit import build_chatkit_app, build_chatkit_dependencies, build_store
from todo_assistant.wiring.session import build_session_app
from todo_assistant.wiring.shared import bind_table, build_task_service
from todo_assistant_dev.faults import FaultProxy, chat_load, check_turns, serve_in_thread
from todo_assistant_dev.stack import PathRouter

NO_LIMITS = {
    "rate_limit_turns_per_minute": 0,
    "rate_limit_turns_per_day": 0,
    "rate_limit_api_per_minute": 0,
    "rate_limit_api_per_day": 0,
}


async def run(args: argparse.Namespace) -> int:
    with dynamodb_backend() as backend:
        direct = bench_settings(backend.endpoint, "todo-assistant-faults").model_copy(
            update=NO_LIMITS
        )
        bind_table(direct)
        create_table_if_missing()
        proxy = FaultProxy(backend.endpoint, fraction=0.0, seed=args.seed)
        with proxy.running() as proxy_url:
            settings = direct.model_copy(
                update={
                    "dynamodb_endpoint": proxy_url,
                    "dynamodb_max_retry_attempts": args.retries,
                }
            )
            deps = build_chatkit_dependencies(settings, model_factory=lambda _: LocalTodoModel())
            app = PathRouter(build_chatkit_app(settings, deps), build_session_app(settings))
            with serve_in_thread(app) as base_url:
                proxy.fraction = args.fraction
                turns, threads = await chat_load(base_url, args.users, args.turns)
                proxy.fraction = 0.0
                after, _ = await chat_load(base_url, args.users, 1)
        bind_table(direct)
        store, task_service = build_store(direct), build_task_service(direct)
        messages, titles = {}, {}
        for user, thread in threads.items():
            page = await store.load_thread_items(thread, None, 1000, "asc", RequestContext(user))
            messages[user] = [
                " ".join(p.text for p in i.content) for i in page.data if i.type == "user_message"
            ]
            titles[user] = [t.title for t in await task_service.list(user, StatusFilter.ALL, None)]
    figures = check_turns(turns, messages, titles)
    figures.faults_injected = proxy.counts.injected
    figures.faults = dict(proxy.counts.faults)
    figures.requests_through_proxy = proxy.counts.requests
    print(
        f"{backend.label}, {args.users} users x {args.turns} turns, fault fraction "
        f"{args.fraction}, seed {args.seed}, botocore retries {args.retries}"
    )
    print(figures.table())
    print("errors by kind:", dict(Counter(t.error for t in turns if t.error)))
    print("answers after the faults stopped:", sum(t.completed for t in after), "/", len(after))
    ok = figures.lost == 0 and figures.duplicated == 0 and figures.unclear_failures == 0
    return 0 if ok and all(t.completed for t in after) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--retries", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    logging.disable(logging.CRITICAL if not os.environ.get("BENCH_LOGS") else logging.NOTSET)
    set_tracing_disabled(True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
