"""Knobs shared by the three simulators: call counters, rolling rate limits, injected failures."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass


class CallLog:
    """Requests per endpoint (e.g. `hubspot.batch_upsert`) and status, for tests and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, int]] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._calls[(endpoint, status)] += 1

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            items = list(self._calls.items())
        out: dict[str, dict] = {}
        for (endpoint, status), count in sorted(items):
            entry = out.setdefault(endpoint, {"calls": 0, "statuses": {}})
            entry["calls"] += count
            entry["statuses"][str(status)] = count
        return out

    def count(self, endpoint: str, status: int | None = None) -> int:
        with self._lock:
            return sum(n for (e, s), n in self._calls.items() if e == endpoint and status in (None, s))

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


@dataclass
class Failure:
    """Answer the next `count` calls to endpoints matching `endpoint` (a glob) with `status`."""

    endpoint: str
    status: int
    count: int = 1
    code: str | None = None  # the system's error code; a per-system default when None
    message: str | None = None
    retry_after: int | None = None  # seconds, sent as a Retry-After header
    delay: float = 0.0  # seconds to stall before answering, to exercise client timeouts


class FailurePlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []

    def add(self, failure: Failure) -> None:
        if failure.count < 1 or not 400 <= failure.status <= 599:
            raise ValueError("a failure needs count >= 1 and a 4xx or 5xx status")
        with self._lock:
            self._failures.append(failure)

    def take(self, endpoint: str) -> Failure | None:
        """The first pending failure for this endpoint, used up by one call."""
        with self._lock:
            for failure in self._failures:
                if fnmatch.fnmatchcase(endpoint, failure.endpoint):
                    failure.count -= 1
                    if failure.count == 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._failures]

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


class RollingLimit:
    """At most `limit` hits in any `window` seconds, counted on the caller's clock (seconds)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()

    def hit(self, now: float, limit: int) -> tuple[bool, int]:
        """Record a hit if allowed; return (allowed, remaining after it)."""
        with self._lock:
            while self._hits and self._hits[0] <= now - self.window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return False, 0
            self._hits.append(now)
            return True, limit - len(self._hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
