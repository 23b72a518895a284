"""HTTP plumbing for connectors: session, timeouts, status → error, retries, limits, counts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from bridge.kernel.errors import AuthError, ConnectorError, Paused, Permanent, RateLimited, Transient
from connectors.base import UpsertResult

log = logging.getLogger(__name__)
T = TypeVar("T")
Item = TypeVar("Item")

#: (connect, read) seconds. Salesforce counts requests over 20 s as long-running; 60 s leaves room.
TIMEOUT = (5.0, 60.0)


class Clock:
    """Wall-clock time and sleeping in one object, so tests swap both and never really sleep."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)


SYSTEM_CLOCK = Clock()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 30.0
    #: A Retry-After longer than this is not slept in-process: the error goes back to the caller.
    longest_wait: float = 120.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311 (jitter, not crypto)


class WindowLimiter:
    """At most `calls` acquisitions in any `seconds`-long window; `acquire` waits for one."""

    def __init__(self, calls: int, seconds: float, clock: Clock):
        self.calls = calls
        self.seconds = seconds
        self.clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self.clock.time()
                while self._stamps and self._stamps[0] <= now - self.seconds:
                    self._stamps.popleft()
                if len(self._stamps) < self.calls:
                    self._stamps.append(now)
                    return
                self.clock.sleep(self._stamps[0] + self.seconds - now)


def retry_after_seconds(response: requests.Response, clock: Clock) -> float | None:
    """The Retry-After header (a number or an HTTP date) as seconds, or None when absent."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - clock.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def error_for_status(
    connector: str,
    response: requests.Response,
    clock: Clock,
    *,
    message: str,
    code: str | None = None,
    fields: tuple[str, ...] = (),
    auth_setting: str | None = None,
) -> ConnectorError:
    """The generic meaning of an HTTP error status; connectors handle their own codes first."""
    status = response.status_code
    wait = retry_after_seconds(response, clock)
    # Method and path only: query strings may carry record data.
    message = f"{response.request.method} {urlsplit(response.url).path}: {message}"
    if status == 401:
        return AuthError(
            connector,
            f"credentials rejected (HTTP 401): {message}"
            + (f"; check {auth_setting}" if auth_setting else ""),
            setting=auth_setting,
            code=code,
            status=status,
        )
    if status == 403:
        return AuthError(
            connector,
            f"no permission (HTTP 403): {message}",
            setting=auth_setting,
            code=code,
            status=status,
        )
    if status == 429:
        return RateLimited(
            connector,
            f"rate limited (HTTP 429): {message}",
            retry_after=wait or 1.0,
            code=code,
            status=status,
        )
    if status in (408, 477) or status >= 500:
        return Transient(
            connector, f"HTTP {status}: {message}", retry_after=wait, code=code, status=status
        )
    return Permanent(
        connector, f"HTTP {status}: {message}", fields=fields, code=code, status=status
    )


def chunks(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class Http:
    """One session per connector: `send` makes one counted attempt, `call` retries what may pass."""

    def __init__(
        self,
        connector: str,
        classify: Callable[[requests.Response], ConnectorError],
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy | None = None,
    ):
        self.connector = connector
        self.classify = classify
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.session = requests.Session()
        #: Requests sent, per endpoint label (retries and token requests included).
        self.calls: Counter[str] = Counter()
        self.paused_until: datetime | None = None
        self.pause_reason = ""

    def pause(self, until: datetime, reason: str) -> Paused:
        """Stop calling until `until`; returns the error to raise now."""
        self.paused_until, self.pause_reason = until, reason
        log.warning(
            "%s paused until %s: %s", self.connector, until.isoformat(timespec="seconds"), reason
        )
        return Paused(self.connector, reason, until=until)

    def send(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        limiter: WindowLimiter | None = None,
        **kwargs,
    ) -> requests.Response:
        """One attempt: refuse while paused, wait for the limiter, count, send, map errors."""
        if self.paused_until is not None:
            if self.clock.now() < self.paused_until:
                raise Paused(self.connector, self.pause_reason, until=self.paused_until)
            self.paused_until = None
        if limiter is not None:
            limiter.acquire()
        self.calls[endpoint] += 1
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except requests.Timeout:
            raise Transient(self.connector, f"{endpoint}: timed out") from None
        except requests.ConnectionError:
            raise Transient(self.connector, f"{endpoint}: could not connect") from None
        # Redirects are followed; a 3xx left over (Salesforce's 300 Multiple Choices) is an answer.
        if response.status_code >= 300:
            raise self.classify(response)
        return response

    def call(self, attempt: Callable[[], T]) -> T:
        """Run `attempt` until it succeeds or fails for good: RateLimited and Transient are
        retried with backoff (Retry-After honoured), anything else is raised at once."""
        retrying = Retrying(
            sleep=self.clock.sleep,
            retry=retry_if_exception_type((RateLimited, Transient)),
            stop=self._stop,
            wait=self._wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(attempt)

    def retry_failed(
        self, inputs: Sequence[Item], send: Callable[[list[Item]], list[UpsertResult]]
    ) -> list[UpsertResult]:
        """Send a batch, then re-send only the inputs whose result failed retriably, with backoff.

        `send` returns one result per input, in order. What still fails after the last attempt is
        returned as failed with category retriable, for the caller to reschedule.
        """
        results: list[UpsertResult | None] = [None] * len(inputs)
        pending = list(range(len(inputs)))
        for attempt in range(1, self.retry.attempts + 1):
            for index, result in zip(pending, send([inputs[i] for i in pending]), strict=True):
                results[index] = result
            pending = [i for i in pending if results[i].category == "retriable"]
            if not pending or attempt == self.retry.attempts:
                break
            wait = self.retry.backoff(attempt)
            log.warning(
                "%s: %d record(s) failed retriably (%s); re-sending them in %.1f s",
                self.connector,
                len(pending),
                results[pending[0]].code,
                wait,
            )
            self.clock.sleep(wait)
        return [r for r in results if r is not None]

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        return hinted if hinted is not None else self.retry.backoff(state.attempt_number)

    def _stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None) or 0.0
        return state.attempt_number >= self.retry.attempts or hinted > self.retry.longest_wait

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s (attempt %d of %d), retrying in %.1f s",
            error,
            state.attempt_number,
            self.retry.attempts,
            wait,
        )


def json_object(response: requests.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is empty, not JSON, or not an object."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def require_keys(connector: str, records: Sequence[Mapping[str, Any]], key_field: str) -> list[str]:
    """Each record's upsert key as text; a record without one makes the whole call invalid."""
    missing = [i for i, r in enumerate(records) if r.get(key_field) in (None, "")]
    if missing:
        raise Permanent(
            connector,
            f"records {missing[:10]} have no value for the upsert key {key_field}",
            fields=(key_field,),
        )
    return [str(r[key_field]) for r in records]
