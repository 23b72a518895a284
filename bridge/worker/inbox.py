"""The inbox stage: claims events under a lease, runs their handlers in record order, retries by time, buries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from itertools import groupby

from bridge.store import ClaimedEvent, LeaseLost, Store, Work
from bridge.worker.handlers import HandlerContext, handler_for
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

        One commit (one fsync) covers the whole batch; each event runs in a savepoint, so a failing
        handler undoes only its own work and the others still commit.
        """
        claimed = self.store.inbox.claim(self.owner, self.clock(), self.lease_seconds, self.batch_size)
        if not claimed:
            return 0
        with self.store.unit_of_work() as work:
            for _, group in groupby(claimed, key=lambda e: (e.source, e.record_key)):
                self._process_record(work, list(group))
        return len(claimed)

    def _process_record(self, work: Work, events: list[ClaimedEvent]) -> None:
        for index, event in enumerate(events):
            retry_at = self._process(work, event)
            if retry_at is not None:
                # Later events of this record wait behind the failed one, so order is kept.
                work.inbox.release((e.id for e in events[index + 1:]), self.owner, retry_at)
                return

    def _process(self, work: Work, event: ClaimedEvent) -> datetime | None:
        """Handle one event; None when it is done, else when the record's next event may be tried."""
        handler = handler_for(self.context, event.source)
        try:
            with work.savepoint():
                if handler is None:
                    raise LookupError(f"no connector is installed for {event.source!r} events")
                now = self.clock()
                handler(self.context, work, event, now)
                work.inbox.complete(event.id, self.owner, now)
            return None
        except LeaseLost:
            log.warning("event %s: lease lost to another worker; its result was discarded", event.id)
            return self.clock()
        except Exception as error:
            now = self.clock()
            step = settle_failure(work.inbox, asdict(event), self.owner, error, now, self.policy)
            if step.action == "bury":
                log.error("event %s is a dead letter: %s: %s", event.id, type(error).__name__, error)
                return now + timedelta(seconds=1)  # the record's later events go on
            log.warning("event %s failed (%s), next try at %s: %s: %s", event.id, step.action, step.at,
                        type(error).__name__, error)
            return step.at
