"""When a failed item is tried again, or given up: by time, not by count. Pure: a function of the error and `now`.

- A system asking us to wait (429 / Retry-After, a paused daily allocation) is not a failure: the item is
  postponed to when the system said, and that costs nothing toward giving up.
- A permanent refusal (the request is invalid and would be again) is a dead letter at once.
- Anything else retriable (5xx, timeouts, lost connections, a missing credential, a bug) is retried with
  capped exponential back-off until it has been failing for `give_up_after` (24 h by default: HubSpot itself
  retries a webhook for 24 h, Salesforce an outbound message for 24 h), then it is a dead letter.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.kernel.clock import parse_iso
from bridge.kernel.errors import AuthError, ConnectorError, Paused, RateLimited, Transient


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Step:
    """What to do with a failed item: `postpone` (not a failure) or `retry` at `at`, or `bury` it."""

    action: str  # postpone | retry | bury
    at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.action == "retry"


def backoff(failures: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> timedelta:
    """base·2^(n-1), capped, times 0.5–1.0 (jitter in the upper half, so retries of a burst spread out)."""
    ceiling = min(policy.cap, policy.base * 2 ** max(failures - 1, 0))
    return ceiling * (0.5 + rng() / 2)


def retriable(error: BaseException) -> bool:
    """Whether trying again may succeed. A missing or rejected credential may be fixed by an admin: retried."""
    if isinstance(error, AuthError):
        return True
    if isinstance(error, ConnectorError):
        return error.retriable
    return getattr(error, "retriable", True)  # an unexpected error (a bug): retried, its reason kept


def next_step(error: BaseException, now: datetime, first_failed_at: str | datetime | None, failures: int,
              policy: RetryPolicy, rng: Callable[[], float] = random.random) -> Step:
    """The step after `error`. `failures`: the item's failed attempts so far, this one not counted;
    `first_failed_at`: when its first failure was (None: this is the first)."""
    if isinstance(error, Paused):
        return Step("postpone", error.until)
    if isinstance(error, RateLimited):
        return Step("postpone", now + timedelta(seconds=error.retry_after))
    if not retriable(error):
        return Step("bury")
    first = parse_iso(first_failed_at) if isinstance(first_failed_at, str) else (first_failed_at or now)
    if now - first >= policy.give_up_after:
        return Step("bury")
    hinted = getattr(error, "retry_after", None) if isinstance(error, Transient) else None
    wait = timedelta(seconds=hinted) if hinted is not None else backoff(failures + 1, policy, rng)
    return Step("retry", now + wait)


def failed_for(first_failed_at: str | None, now: datetime) -> str:
    """How long an item has been failing, in words for a dead letter's reason."""
    if not first_failed_at:
        return "at once"
    hours = (now - parse_iso(first_failed_at)).total_seconds() / 3600
    return f"after {hours:.1f} h of retries"
