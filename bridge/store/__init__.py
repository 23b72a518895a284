"""The store: the only package that speaks SQL. One SQLite file in WAL mode, reached through sqlite-utils.

`Store` gathers one object per concern (the inbox and outbox queues, leads, echoes, alerts, admin, health,
retention, the API budget). Reads and self-contained writes are called on them directly; work that must commit
together runs in a unit of work:

    with store.unit_of_work() as work:
        lead_id = work.leads.touch(now, hubspot_id="101")
        work.outbox.enqueue(lead_id, "upsert", "salesforce-leads", now)

Handlers get the unit of work, never a raw database; `work.savepoint()` undoes one item's part of a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bridge.store.admin import Admin, LoginAttempt
from bridge.store.alerts import Alerts
from bridge.store.budget import SharedBudget
from bridge.store.clocks import Clocks
from bridge.store.cursors import Cursors
from bridge.store.db import Connections
from bridge.store.echoes import OWN_WRITE_MEMORY, Echoes
from bridge.store.health import Health
from bridge.store.inbox import Changes, ClaimedEvent, InboxQueue
from bridge.store.inbox_batch import InboxBatch, LeadRef
from bridge.store.ingest import Ingest
from bridge.store.leads import Leads
from bridge.store.migrations import migrations
from bridge.store.outbox import OutboxQueue
from bridge.store.queue import STATUSES, LeasedQueue, LeaseLost
from bridge.store.reconcile import ReconcileReads, Reconciliations
from bridge.store.retention import Retention
from bridge.store.sales import Sales

__all__ = ["OWN_WRITE_MEMORY", "STATUSES", "ClaimedEvent", "InboxBatch", "LeadRef", "LeaseLost", "LeasedQueue",
           "LoginAttempt", "Store", "Work"]


class Work:
    """A unit of work: the operations that must commit together, inside one write transaction."""

    def __init__(self, store: Store):
        self.inbox = store.inbox
        self.changes = store.changes
        self.leads = store.leads
        self.outbox = store.outbox
        self.echoes = store.echoes
        self.alerts = store.alerts
        self.sales = store.sales
        self.clocks = store.clocks
        self.reconcile_reads = store.reconcile_reads
        self._conn = store.conn

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block did when it raises (the exception goes on); the rest of the work stays."""
        with self._conn.savepoint():
            yield

    def inbox_batch(self, owner: str, event_ids: list[int]) -> InboxBatch:
        """The inbox stage's work on a batch of events `owner` claimed: read and written in bulk (inbox_batch.py)."""
        return InboxBatch(self, owner, event_ids)


class Store:
    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, synchronous: str = "FULL"):
        self.conn = Connections(path, busy_timeout_ms, synchronous)
        self.path = self.conn.path
        self.ingest = Ingest(self.conn)
        self.inbox = InboxQueue(self.conn)
        self.changes = Changes(self.conn)
        self.leads = Leads(self.conn)
        self.outbox = OutboxQueue(self.conn)
        self.echoes = Echoes(self.conn)
        self.alerts = Alerts(self.conn)
        self.admin = Admin(self.conn)
        self.health = Health(self.conn)
        self.retention = Retention(self.conn)
        self.budget = SharedBudget(self.conn)
        self.sales = Sales(self.conn)
        self.clocks = Clocks(self.conn)
        self.cursors = Cursors(self.conn)
        self.reconciliations = Reconciliations(self.conn)
        self.reconcile_reads = ReconcileReads(self.conn)

    @contextmanager
    def unit_of_work(self) -> Iterator[Work]:
        """One write transaction: everything done through the yielded `Work` commits together, or not at all."""
        with self.conn.transaction():
            yield Work(self)

    def upgrade(self) -> list[str]:
        """Apply pending migrations; safe when several processes start at once."""
        with self.conn.transaction() as db:  # serialises concurrent upgrades; migrations nest as savepoints
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending

    def close(self) -> None:
        self.conn.close()
