"""Compose the local stack: one ASGI app that serves /chatkit, /session and /tasks.

In AWS these are two functions behind two URLs; locally one process serves both apps
unchanged, routing by path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from todo_assistant.config import Settings
from todo_assistant.db.table import create_table_if_missing
from todo_assistant.wiring.shared import bind_table

LOCAL_SIGNING_KEY = "dev-insecure-local-signing-key-change-me-0123456789"
LOCAL_BUCKET = "todo-assistant-local"


class PathRouter:
    """Send /chatkit* to the chatkit app and everything else to the session app."""

    def __init__(self, chatkit: FastAPI, session: FastAPI) -> None:
        self.chatkit = chatkit
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        app = self.chatkit if path == "/chatkit" or path.startswith("/chatkit/") else self.session
        await app(scope, receive, send)


def local_auth_mode(environ: Mapping[str, str]) -> str:
    """`dev` sign-in unless a real provider is configured: AUTH_MODE if set, else `oidc` when
    OIDC_ISSUER and OIDC_AUDIENCE are both set (a front-end developer signing in for real)."""
    explicit = environ.get("AUTH_MODE", "").strip().lower()
    if explicit:
        return explicit
    if environ.get("OIDC_ISSUER", "").strip() and environ.get("OIDC_AUDIENCE", "").strip():
        return "oidc"
    return "dev"


def local_environment(dynamodb_endpoint: str, s3_endpoint: str | None) -> dict[str, str]:
    """Environment of the local stack: dev sign-in unless OIDC_* is set, embedded AWS, local
    model unless a key."""
    env = {
        "AUTH_MODE": local_auth_mode(os.environ),
        "TOKEN_SIGNING_KEY": os.environ.get("TOKEN_SIGNING_KEY", LOCAL_SIGNING_KEY),
        "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "TABLE_NAME": os.environ.get("TABLE_NAME", "todo-assistant-local"),
        "CORS_ALLOW_ORIGINS": os.environ.get(
            "CORS_ALLOW_ORIGINS", '["http://localhost:3000","http://127.0.0.1:3000"]'
        ),
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "ENVIRONMENT_NAME": os.environ.get("ENVIRONMENT_NAME", "local"),
        # EMF lines are for CloudWatch; locally they would bury the access log in the
        # terminal. POWERTOOLS_METRICS_DISABLED=false make dev prints them.
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
    }
    if s3_endpoint:
        env["S3_ENDPOINT"] = s3_endpoint
        env["LARGE_ITEM_BUCKET"] = LOCAL_BUCKET
    return env


def prepare_aws_resources(settings: Settings) -> None:
    """Create the table (and the large-item bucket) the way template.yaml does in AWS."""
    bind_table(settings)
    create_table_if_missing()
    if settings.large_item_bucket and settings.s3_endpoint:
        s3 = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if settings.large_item_bucket not in existing:
            s3.create_bucket(Bucket=settings.large_item_bucket)
        if settings.cors_allow_origins:
            # As template.yaml does: the browser PUTs attachment bytes to presigned URLs.
            s3.put_bucket_cors(
                Bucket=settings.large_item_bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedOrigins": settings.cors_allow_origins,
                            "AllowedMethods": ["GET", "PUT"],
                            "AllowedHeaders": ["content-type", "content-length"],
                            "MaxAgeSeconds": 600,
                        }
                    ]
                },
            )


class _OneRequestAtATime:
    """moto's DynamoDB is not safe under concurrent requests: a transaction deep-copies the
    table to roll back from, and a write landing meanwhile breaks it ("dictionary changed
    size during iteration", a 500). The stack's turns do overlap (a reply saved while the
    next message arrives), so moto answers them one at a time, as a real table would
    serialize conflicting writes."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


@contextmanager
def embedded_moto() -> Iterator[str]:
    """moto's server on a free loopback port: DynamoDB and S3 for the local stack."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class SerializedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address,
                self._port,
                app,
                True,
                request_handler=MotoRequestHandler,
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    # Its werkzeug access log would bury the stack's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def build_local_app(settings: Settings) -> PathRouter:
    from todo_assistant.wiring.chatkit import build_chatkit_app
    from todo_assistant.wiring.session import build_session_app

    return PathRouter(build_chatkit_app(settings), build_session_app(settings))
