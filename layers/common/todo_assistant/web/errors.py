"""One JSON error shape for every 4xx/5xx: {"error": <code>, "message": <text>}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from todo_assistant.errors import Refusal
from todo_assistant.observability import logger


class ApiError(Refusal):
    """A refusal raised by web/ itself (a bad header, a missing sign-in, a bad route)."""


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def describe_validation_error(error: ValidationError | RequestValidationError) -> str:
    """A short, readable account of what was wrong, without echoing the input back."""
    problems: list[str] = []
    for detail in error.errors()[:5]:
        where = ".".join(str(p) for p in detail.get("loc", ()) if p != "body")
        problems.append(f"{where}: {detail.get('msg')}" if where else str(detail.get("msg")))
    return "; ".join(problems) or "invalid request"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def _refusal(request: Request, error: Refusal) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid_request", describe_validation_error(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(error.status_code, "error")
        return error_response(error.status_code, code, str(error.detail), _headers(error))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal_error", "Something went wrong on our side.")


def _headers(error: Any) -> dict[str, str] | None:
    headers = getattr(error, "headers", None)
    return dict(headers) if headers else None
