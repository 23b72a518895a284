"""Webhook delivery: a queue per sender, batched, retried on failure, logged, flushable by tests."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import requests

from connectors.sandbox.config import DeliveryConfig

LOG_SIZE = 1000


@dataclass
class Outcome:
    """One HTTP attempt: where it went, what was sent, and whether the listener accepted it."""

    url: str
    body: str
    ok: bool
    status: int | None = None
    error: str | None = None


def post(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    accepted: Callable[[requests.Response], bool],
) -> Outcome:
    """POST and judge the answer; a connection error or timeout is a failed attempt, not a raise."""
    text = body.decode("utf-8")
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as error:
        return Outcome(url, text, ok=False, error=f"{type(error).__name__}: {error}")
    ok = accepted(response)
    return Outcome(
        url,
        text,
        ok=ok,
        status=response.status_code,
        error=None if ok else f"refused: {response.text[:300]}",
    )


class DeliveryLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

    def add(self, system: str, attempt: int, items: int, outcome: Outcome) -> None:
        entry = {
            "system": system,
            "attempt": attempt,
            "items": items,
            "at": time.time(),
            **asdict(outcome),
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self, system: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if system in (None, e["system"])]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Dispatcher:
    """Sends queued items in batches of up to `max_batch` from one background thread.

    `deliver(batch, attempt)` makes one HTTP attempt; a failed batch is retried whole, as HubSpot
    and Salesforce do, after `retry_delay`, doubled each time, up to `retries` times. With `group`, a batch
    holds only items of the oldest item's group (a Salesforce message carries one object's notifications).
    """

    def __init__(
        self,
        system: str,
        deliver: Callable[[list[Any], int], Outcome],
        settings: DeliveryConfig,
        log: DeliveryLog,
        max_batch: int,
        retries: bool = True,
        group: Callable[[Any], Any] | None = None,
    ) -> None:
        self.system = system
        self._group = group
        self._deliver = deliver
        self._settings = settings
        self._log = log
        self._max_batch = max_batch
        self._retries = retries
        self._cond = threading.Condition()
        self._queue: list[Any] = []
        self._busy = False
        self._urgent = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    @contextmanager
    def muted(self) -> Iterator[None]:
        """Drop what this thread queues meanwhile: seeding data without notifying anyone."""
        self._local.muted = True
        try:
            yield
        finally:
            self._local.muted = False

    def put(self, item: Any) -> None:
        if getattr(self._local, "muted", False):
            return
        with self._cond:
            if self._closed:
                return
            self._queue.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"sandbox-{self.system}-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Send what is queued now, without waiting for the batch window; True once all is sent."""
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.timeout + 1)

    def _next_batch(self) -> list[Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._closed)
            if self._closed:
                return None
            deadline = time.monotonic() + self._settings.batch_window
            while len(self._queue) < self._max_batch and not self._urgent and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    break
            batch = self._take()
            self._busy = bool(batch)
            return batch

    def _take(self) -> list[Any]:
        """The next batch off the queue, in the order queued (the caller holds the condition's lock)."""
        if self._group is None:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            return batch
        key = self._group(self._queue[0]) if self._queue else None
        batch, rest = [], []
        for item in self._queue:
            (batch if len(batch) < self._max_batch and self._group(item) == key else rest).append(item)
        self._queue[:] = rest
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                if batch:
                    self._send(batch)
            finally:
                with self._cond:
                    self._busy = False
                    if not self._queue:
                        self._urgent = False
                    self._cond.notify_all()

    def _send(self, batch: list[Any]) -> None:
        retries = self._settings.retries if self._retries else 0
        for attempt in range(retries + 1):
            outcome = self._deliver(batch, attempt)
            self._log.add(self.system, attempt, len(batch), outcome)
            if outcome.ok or attempt == retries:
                return
            with self._cond:
                if self._cond.wait_for(lambda: self._closed, self._settings.retry_delay * 2**attempt):
                    return
