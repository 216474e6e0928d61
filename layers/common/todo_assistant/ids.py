"""Time-sortable identifiers: a type prefix plus a ULID (48-bit ms time + 80 random bits)."""

from __future__ import annotations

import re

from ulid import ULID

_SAFE_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,128}$")


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(ULID()).lower()}"


def is_safe_id(value: str) -> bool:
    """Ids become parts of DynamoDB sort keys: refuse separators and odd characters."""
    return bool(_SAFE_ID.match(value))
