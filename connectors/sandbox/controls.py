"""Knobs shared by the three simulators: call counters, rolling rate limits, injected failures and lost responses."""

from __future__ import annotations

import contextlib
import fnmatch
import random
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

#: The WSGI environ key that marks a request whose answer is to be lost (see LoseResponses).
LOSE_RESPONSE = "sandbox.lose_response"
#: The status the call log counts a lost response under: applied, but no status ever reached the client.
LOST = 0


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
    """Answer calls to endpoints matching `endpoint` (a glob, e.g. `kintone.*`) with `status`.

    By count (the default): the next `count` matching calls, then the failure is used up.
    By rate: with `rate` set, each matching call fails with that probability until the failure is deleted
    (`count` is ignored). Rate failures matching one call share a single draw, so their rates add up:
    0.2 of 503s and 0.05 of lost responses fail 25 % of the calls. Seed the plan to repeat a run exactly.
    With `lose_response` (and no status), the call is applied as usual and then the connection is closed without
    an answer: the write happened, the client sees a dropped connection and cannot tell whether it did.
    """

    endpoint: str
    status: int | None = None
    count: int = 1
    code: str | None = None  # the system's error code; a per-system default when None
    message: str | None = None
    retry_after: int | None = None  # seconds, sent as a Retry-After header
    delay: float = 0.0  # seconds to stall before answering, to exercise client timeouts
    rate: float | None = None  # the share of matching calls that fail (0 < rate <= 1); None: by count
    lose_response: bool = False  # apply the call, then drop the connection instead of answering

    def check(self) -> None:
        """Raise ValueError naming what is wrong with this failure."""
        if self.lose_response:
            if self.status is not None:
                raise ValueError("a lost response has no status: leave out status (or lose_response)")
        elif self.status is None or not 400 <= self.status <= 599:
            raise ValueError("a failure needs a 4xx or 5xx status (or lose_response: true)")
        if self.rate is None:
            if self.count < 1:
                raise ValueError("a failure by count needs count >= 1")
        elif not 0 < self.rate <= 1:
            raise ValueError("rate is the share of calls that fail: more than 0, at most 1")


class FailurePlan:
    """The failures pending; `seed` makes the draws of rate failures repeat from run to run."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._failures: list[Failure] = []
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the draws: the same seed and the same sequence of calls fail the same calls."""
        with self._lock:
            # Fault injection, not security: a seeded, repeatable generator is the point.
            self._random = random.Random(seed)  # noqa: S311

    def add(self, failure: Failure) -> None:
        failure.check()
        with self._lock:
            self._failures.append(failure)

    def take(self, endpoint: str, environ: dict[str, Any] | None = None) -> Failure | None:
        """The failure this call to `endpoint` answers with, if any; a failure by count is used up by it.
        A lost response is marked in `environ` for LoseResponses and None is returned: the call goes ahead."""
        chosen = self._choose(endpoint)
        if chosen is not None and chosen.lose_response:
            if environ is not None:
                environ[LOSE_RESPONSE] = True
            return None
        return chosen

    def _choose(self, endpoint: str) -> Failure | None:
        with self._lock:
            draw, bound = None, 0.0
            for failure in self._failures:
                if not fnmatch.fnmatchcase(endpoint, failure.endpoint):
                    continue
                if failure.rate is None:
                    failure.count -= 1
                    if failure.count == 0:
                        self._failures.remove(failure)
                    return failure
                draw = self._random.random() if draw is None else draw
                bound += failure.rate
                if draw < bound:
                    return failure
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._failures]

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


class LoseResponses:
    """WSGI middleware: a request marked by FailurePlan.take runs to the end (its write is applied), then the
    connection is shut without a byte of the answer.

    Why close rather than stall past the client's read timeout: both reach the client's "no answer" path (a
    connector maps a timeout and a dropped connection alike to Transient), but a close gets there at once, while a
    stall holds the caller for its whole read timeout (60 s in Bridge's connectors) per lost answer, which would
    measure the timeout instead of the retry. Stalls remain available as `delay`.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = self.app(environ, start_response)
        if not environ.get(LOSE_RESPONSE):
            return body
        # The server writes nothing until the body is iterated: closing it runs the app's teardown and sends nothing.
        close = getattr(body, "close", None)
        if close is not None:
            close()
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):  # the client hung up first: the answer is lost all the same
                connection.shutdown(socket.SHUT_RDWR)
        # Werkzeug's server treats a ConnectionError as a dropped connection: it logs nothing and answers nothing.
        raise ConnectionAbortedError("sandbox: response lost on purpose (a lose_response failure)")


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
