"""The inbox stage: claims events under a lease, runs their handlers in record order, retries by time, buries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from itertools import groupby

from bridge.store import ClaimedEvent, InboxBatch, LeaseLost, Store, Work
from bridge.worker.handlers import HandlerContext, handler_for, prefetch
from bridge.worker.retry import RetryPolicy
from bridge.worker.stage import settle_failure

log = logging.getLogger(__name__)


class InboxStage:
    name = "inbox"

    def __init__(self, store: Store, context: HandlerContext, clock: Callable[[], datetime], owner: str,
                 policy: RetryPolicy, lease_seconds: int = 120, batch_size: int = 100):
        self.store, self.context, self.clock, self.owner = store, context, clock, owner
        self.policy, self.lease_seconds, self.batch_size = policy, lease_seconds, batch_size

    def run_once(self) -> int:
        """Claim one batch and process it in one unit of work; return how many events were claimed.

        One commit (one fsync) covers the whole batch, and its reads and writes are made a batch at a time
        (bridge/store/inbox_batch.py). A failing handler undoes only its own event's part. Should writing the
        batch fail, it is written again event by event, each in a savepoint, so one event that cannot be written
        never holds up the others.
        """
        claimed = self.store.inbox.claim(self.owner, self.clock(), self.lease_seconds, self.batch_size)
        if not claimed:
            return 0
        records = [list(group) for _, group in groupby(claimed, key=lambda e: (e.source, e.record_key))]
        with self.store.unit_of_work() as work:
            try:
                with work.savepoint():
                    self._process(work, records)
            except Exception:
                log.exception("inbox: a batch of %d event(s) could not be written at once; writing them one by one",
                              len(claimed))
                for events in records:
                    self._process_one_by_one(work, events)
        return len(claimed)

    def _process(self, work: Work, records: list[list[ClaimedEvent]]) -> None:
        """Every record's events in order, in one batch; a record stops at its first failing event."""
        batch = work.inbox_batch(self.owner, [event.id for events in records for event in events])
        now = self.clock()  # one time for the batch: its events are handled within milliseconds
        prefetch(self.context, batch, [event for events in records for event in events], now)
        for events in records:
            for index, event in enumerate(events):
                retry_at = self._handle(work, batch, event, now)
                if retry_at is not None:
                    self._hold_back(work, events[index + 1:], retry_at)
                    break
        batch.apply(self.clock())

    def _process_one_by_one(self, work: Work, events: list[ClaimedEvent]) -> None:
        for index, event in enumerate(events):
            try:
                with work.savepoint():
                    batch = work.inbox_batch(self.owner, [event.id])
                    retry_at = self._handle(work, batch, event, self.clock())
                    batch.apply(self.clock())
            except LeaseLost:
                retry_at = self._lease_lost(event)
            except Exception as error:  # the event's writes failed: it is retried like a failing handler
                retry_at = self._failed(work, event, error)
            if retry_at is not None:
                self._hold_back(work, events[index + 1:], retry_at)
                return

    def _hold_back(self, work: Work, later: list[ClaimedEvent], retry_at: datetime) -> None:
        """Later events of a record wait behind its failed one, so order is kept."""
        work.inbox.release((e.id for e in later), self.owner, retry_at)

    def _handle(self, work: Work, batch: InboxBatch, event: ClaimedEvent, now: datetime) -> datetime | None:
        """Handle one event in the batch at `now`; None when it is done, else when the record's next event may be
        tried."""
        if not batch.held(event.id):
            return self._lease_lost(event)
        handler = handler_for(self.context, event.source)
        try:
            with batch.savepoint():
                if handler is None:
                    raise LookupError(f"no connector is installed for {event.source!r} events")
                handler(self.context, batch, event, now)
                batch.complete(event.id)
            return None
        except Exception as error:
            return self._failed(work, event, error)

    def _lease_lost(self, event: ClaimedEvent) -> datetime:
        log.warning("event %s: lease lost to another worker; its result was discarded", event.id)
        return self.clock()

    def _failed(self, work: Work, event: ClaimedEvent, error: Exception) -> datetime:
        """Settle a failed event (retry at a back-off, or bury); returns when the record's next event may go."""
        now = self.clock()
        step = settle_failure(work.inbox, asdict(event), self.owner, error, now, self.policy)
        if step.action == "bury":
            log.error("event %s is a dead letter: %s: %s", event.id, type(error).__name__, error)
            return now + timedelta(seconds=1)  # the record's later events go on
        log.warning("event %s failed (%s), next try at %s: %s: %s", event.id, step.action, step.at,
                    type(error).__name__, error)
        return step.at
