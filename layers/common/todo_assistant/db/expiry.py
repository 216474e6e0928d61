"""When rows of the shared table expire by themselves (DynamoDB TTL on `expires_at`).

- A thread: THREAD_RETENTION_DAYS after it was last written or touched (0: never); the
  cleanup of the rest of an expired thread is lifecycle/retention.py's.
- An uploaded attachment no message used yet: a day after its upload.
- Rate-limit counters carry their own expiry (limits.py); tasks never expire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# An uploaded file no message ever used disappears by itself.
PENDING_ATTACHMENT_TTL = timedelta(hours=24)


def thread_expiry(now: datetime, retention_days: int) -> datetime | None:
    """When a thread written or touched `now` (naive UTC or aware) expires; None = never."""
    if retention_days <= 0:
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now + timedelta(days=retention_days)


def pending_attachment_expiry(bound_to_thread: bool) -> datetime | None:
    """Until a message binds it to a thread, an attachment's metadata row expires."""
    if bound_to_thread:
        return None
    return datetime.now(UTC) + PENDING_ATTACHMENT_TTL
