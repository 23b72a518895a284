"""Retention: finished inbox events and refused deliveries are removed once they are older than configured,
by `bridge db prune` and, once a day, by the worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.config import RetentionSettings
from bridge.store import Store

log = logging.getLogger(__name__)

PRUNE_ACTION = "prune"  # the audit-log action; its newest entry is when the daily prune last ran
EVERY = timedelta(days=1)
RETRY = timedelta(hours=1)  # after a failure (the database busy, say), before this worker asks again


@dataclass(frozen=True)
class Pruned:
    retention: RetentionSettings
    events: int = 0
    changes: int = 0
    rejected: int = 0

    def text(self) -> str:
        inbox = (f"{self.events} done inbox event(s) older than {self.retention.inbox_days} days "
                 f"(and {self.changes} timeline change(s) made from them)" if self.retention.inbox_days
                 else "no inbox events (BRIDGE_RETAIN_INBOX_DAYS=0 keeps them)")
        rejected = (f"{self.rejected} rejected delivery(ies) older than {self.retention.rejected_days} days"
                    if self.retention.rejected_days
                    else "no rejected deliveries (BRIDGE_RETAIN_REJECTED_DAYS=0 keeps them)")
        return f"removed {inbox}, {rejected}; dead letters and unfinished events are never removed"


def prune(store: Store, retention: RetentionSettings, now: datetime) -> Pruned:
    """Remove what is past its retention; a retention of 0 days keeps that kind forever."""
    events = changes = rejected = 0
    if retention.inbox_days:
        events, changes = store.retention.prune_inbox(now - timedelta(days=retention.inbox_days))
    if retention.rejected_days:
        rejected = store.retention.prune_rejected(now - timedelta(days=retention.rejected_days))
    return Pruned(retention, events, changes, rejected)


class DailyPrune:
    """Runs `prune` once a day whatever the number of workers: the last run is an audit-log entry, claimed
    in a write transaction, so the first worker to find it due runs it and the others wait for the next day.
    A run that fails part-way leaves the rest for the next day's run."""

    def __init__(self, store: Store, retention: RetentionSettings, clock: Callable[[], datetime]):
        self.store, self.retention, self.clock = store, retention, clock
        self.next_check: datetime | None = None  # kept in memory: the database is asked about once a day

    def run_if_due(self) -> Pruned | None:
        """Prune if due (returns what was removed); None when another run is not due yet."""
        if not (self.retention.inbox_days or self.retention.rejected_days):
            return None
        now = self.clock()
        if self.next_check is not None and now < self.next_check:
            return None
        try:
            entry, self.next_check = self.store.retention.claim_daily(PRUNE_ACTION, "worker", now, EVERY)
            if entry is None:
                return None
            pruned = prune(self.store, self.retention, now)
            self.store.retention.set_audit_detail(entry, pruned.text())
        except Exception:  # housekeeping never stops the inbox, evaluation or outbox
            log.exception("daily prune failed; the worker carries on, and the rest is removed on a later run")
            self.next_check = now + RETRY
            return None
        log.info("daily prune: %s", pruned.text())
        return pruned
