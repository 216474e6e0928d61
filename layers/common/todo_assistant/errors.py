"""The one way any layer refuses a request: `Refusal(status, code, message)`.

A refusal is the caller's mistake or a limit, never our failure: web/ answers it as the JSON
4xx `{"error": code, "message": message}` (with `headers`, e.g. `Retry-After`), and a turn
that is already streaming turns it into a ChatKit error event. Raise it before anything is
written; subclasses (a widget action refused, a rate limit) only add what they carry.
"""

from __future__ import annotations


class Refusal(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
