"""API budgets: the rate limits a connector declares, spent one call at a time without ever sleeping, and
the priority the caller gives the calls it is about to make.

A connector declares each of its systems' limits as a `Limit` on a named pool ("burst", "search", "app 7")
and calls `budget.take(...)` before every request. When the pool has no call left now, `take` raises
RateLimited with the seconds until one frees up, and nothing is sent: the caller reschedules the work.
Requests of a pool without a declared limit are passed to `take` too (limit None): every call goes through it.

Who calls decides the priority, not the connector: a worker stage wraps its calls in
`with spending("reconcile"): ...`. A lower priority may use only a share of each limit (SHARES), so a
nightly job or sales feedback never leaves a handoff without calls. The priority is a context variable:
it follows the code within one thread (and asyncio task) and starts as "handoff" in every new thread.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bridge.kernel.errors import RateLimited

log = logging.getLogger(__name__)

#: Priority classes, highest first: handoff writes, then sales feedback, then reconciliation and backfill.
PRIORITIES = ("handoff", "feedback", "reconcile")
#: The share of every limit each class may use: what a lower class may not use is kept for the ones above it.
SHARES: dict[str, float] = {"handoff": 1.0, "feedback": 0.8, "reconcile": 0.5}
#: A fixed window (a quota) logs a warning once this share of it is used.
WARN_SHARE = 0.9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_priority: ContextVar[str] = ContextVar("bridge_budget_priority", default="handoff")


@dataclass(frozen=True)
class Limit:
    """At most `calls` calls in any `seconds`-long window (HubSpot's burst: 171 per 10 s at a 90 % share).

    `fixed`: the windows instead start at whole multiples of `seconds` since the Unix epoch, as a quota that
    resets at a set time does (kintone's daily requests per app: 86,400 s, reset at 00:00 UTC = 9:00 JST).
    """

    calls: int
    seconds: float
    fixed: bool = False

    def allowance(self, priority: str) -> int:
        """How many calls of the window a call of `priority` may find already made and still go."""
        return max(1, int(self.calls * SHARES[priority]))

    def window_start(self, now: datetime) -> datetime:
        """Where the fixed window holding `now` starts."""
        elapsed = (now - _EPOCH).total_seconds()
        return _EPOCH + timedelta(seconds=elapsed - elapsed % self.seconds)

    def __str__(self) -> str:
        if self.fixed and self.seconds == 86_400:
            return f"{self.calls:,} calls a day (from 00:00 UTC)"
        return f"{self.calls:,} calls {'per fixed' if self.fixed else 'in any'} {self.seconds:g} s"


class Budget(Protocol):
    """Where connectors spend their calls; one object serves every connector of a process (or, backed by the
    store, every process). Implementations never sleep and are safe to call from several threads."""

    def take(self, system: str, pool: str, limit: Limit | None, now: datetime) -> None:
        """Spend one call from `pool` of `system`, or raise RateLimited(retry_after=seconds until a call of
        the current priority may go) when `limit` allows none now. `limit` None: the pool declares no limit,
        so the call is never refused (a shared budget may still count it, for /metrics). A budget may treat a
        fixed window as a rolling one of the same length: that is stricter, never looser."""


@contextmanager
def spending(priority: str) -> Iterator[None]:
    """Make the calls inside the block with `priority` (one of PRIORITIES), e.g. `with spending("feedback"):`."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown budget priority {priority!r}; use one of: {', '.join(PRIORITIES)}")
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> str:
    """The priority the caller set with `spending`; "handoff" when it set none."""
    return _priority.get()


class LocalBudget:
    """Sliding (or fixed) windows in this process's memory: the budget of CLI commands, benchmarks and unit
    tests, and of a single worker. Honours priorities like any budget. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: defaultdict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def take(self, system: str, pool: str, limit: Limit | None, now: datetime) -> None:
        if limit is None:
            return
        with self._lock:
            calls = self._calls[(system, pool)]
            if limit.fixed:
                start = limit.window_start(now)
                while calls and calls[0] < start:
                    calls.popleft()
            else:
                while calls and calls[0] <= now - timedelta(seconds=limit.seconds):
                    calls.popleft()
            priority = current_priority()
            allowed = limit.allowance(priority)
            if len(calls) >= allowed:
                if limit.fixed:
                    frees_at = limit.window_start(now) + timedelta(seconds=limit.seconds)
                else:  # the call that must leave the window for this priority to be under its share
                    frees_at = calls[len(calls) - allowed] + timedelta(seconds=limit.seconds)
                wait = max((frees_at - now).total_seconds(), 0.001)
                share = "" if allowed == limit.calls else f", {allowed:,} of them for {priority} calls"
                raise RateLimited(
                    system, f"{pool}: no call left ({limit}{share}); the next may go in {wait:.1f} s", retry_after=wait
                )
            calls.append(now)
            if limit.fixed and len(calls) == int(limit.calls * WARN_SHARE):
                log.warning("%s %s: %d of %s used", system, pool, len(calls), limit)
