"""When to try a failed call again: what the system asked for, else exponential backoff."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.config import WorkerSettings
from bridge.kernel.errors import Paused, RateLimited, Transient
from bridge.worker.inbox import backoff_seconds


def retry_at(error: Exception, now: datetime, attempt: int, settings: WorkerSettings) -> datetime:
    """Paused connectors resume at their reset, 429s after Retry-After, anything else after a backoff."""
    if isinstance(error, Paused):
        return error.until
    if isinstance(error, RateLimited):
        return now + timedelta(seconds=error.retry_after)
    if isinstance(error, Transient) and error.retry_after is not None:
        return now + timedelta(seconds=error.retry_after)
    return now + timedelta(seconds=backoff_seconds(attempt, settings))
