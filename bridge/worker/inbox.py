"""The inbox stage: claims events under a lease, runs their handlers in record order, retries, dead-letters."""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby

from sqlite_utils import Database

from bridge.config import WorkerSettings
from bridge.kernel.clock import utcnow
from bridge.store import ClaimedEvent, LeaseLost, Store
from bridge.worker.handlers import HandlerContext, handler_for

log = logging.getLogger(__name__)


def backoff_seconds(attempt: int, settings: WorkerSettings, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter in the upper half: base·2^(n-1), capped, times 0.5–1.0."""
    ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2 ** max(attempt - 1, 0))
    return ceiling * (0.5 + rng() / 2)


class Worker:
    def __init__(self, store: Store, settings: WorkerSettings, clock: Callable[[], datetime] = utcnow,
                 owner: str | None = None, context: HandlerContext | None = None):
        self.store = store
        self.context = context or HandlerContext(store)
        self.settings = settings
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def run_once(self) -> int:
        """Claim one batch and process it in one transaction; return how many events were claimed.

        One commit (one fsync) covers the whole batch; each event runs in a savepoint, so a failing
        handler undoes only its own work and the others still commit.
        """
        claimed = self.store.claim(self.owner, self.clock(), self.settings.lease_seconds, self.settings.batch_size)
        if not claimed:
            return 0
        with self.store.transaction() as db:
            for _, group in groupby(claimed, key=lambda e: (e.source, e.record_key)):
                self._process_record(db, list(group))
        return len(claimed)

    def _process_record(self, db: Database, events: list[ClaimedEvent]) -> None:
        for index, event in enumerate(events):
            if not self._process(db, event):
                # Later events of this record wait behind the failed one, so order is kept.
                retry_at = self.clock() + timedelta(seconds=backoff_seconds(event.attempts, self.settings))
                self.store.release(db, (e.id for e in events[index + 1:]), self.owner, retry_at)
                return

    def _process(self, db: Database, event: ClaimedEvent) -> bool:
        handler = handler_for(event.source, event.event_type)
        db.execute("SAVEPOINT event")
        try:
            if handler is None:
                raise LookupError(f"no handler registered for {event.source} {event.event_type}")
            now = self.clock()
            handler(self.context, db, event, now)
            self.store.complete(db, event.id, self.owner, now)
            db.execute("RELEASE event")
            return True
        except LeaseLost:
            db.execute("ROLLBACK TO event")
            db.execute("RELEASE event")
            log.warning("event %s: lease lost to another worker; its result was discarded", event.id)
            return False
        except Exception as error:
            db.execute("ROLLBACK TO event")
            db.execute("RELEASE event")
            message = f"{type(error).__name__}: {error}"
            now = self.clock()
            if event.attempts >= self.settings.max_attempts:
                log.error("event %s dead after %d attempts: %s", event.id, event.attempts, message)
                self.store.fail(db, event.id, self.owner, message, None, now)
            else:
                delay = backoff_seconds(event.attempts, self.settings)
                log.warning("event %s attempt %d failed, retry in %.0f s: %s", event.id, event.attempts, delay, message)
                self.store.fail(db, event.id, self.owner, message, now + timedelta(seconds=delay), now)
            return False
