"""What both apps share: error shape, size limit, access log, metrics, local-only CORS, health."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from todo_assistant.config import Settings, running_in_lambda
from todo_assistant.web.errors import install_error_handlers
from todo_assistant.web.middleware import (
    AccessLogMiddleware,
    BodySizeLimitMiddleware,
    RequestMetricsMiddleware,
)


def new_app(title: str, settings: Settings) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    if settings.cors_allow_origins and not running_in_lambda():
        # Under Lambda the function URL answers CORS; doing it here too would send the browser
        # duplicate Access-Control-Allow-Origin headers.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept-language"],
            max_age=600,
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(AccessLogMiddleware)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
