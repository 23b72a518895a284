"""Deliveries into the inbox: a group commit that no delivery can poison, and the refused bodies kept aside."""

from __future__ import annotations

import functools
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime

from bridge.kernel.clock import iso
from bridge.kernel.errors import StoreUnavailable
from bridge.store.db import Connections
from connectors.base import InboxEvent

#: What a refused body keeps once its source's kept bodies pass their budget: enough to see what it was.
CUT_BODY_BYTES = 4096
# 100 rows of 8 values: 800 bound values, under the 999 that older SQLite builds allow per statement.
_ROWS_PER_INSERT = 100


@dataclass
class _PendingBatch:
    """One delivery's rows waiting for a group commit, and what became of them: `new` once committed,
    `error` once it is known that they were not."""

    rows: list[tuple]
    new: int | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self.new is not None or self.error is not None


class Ingest:
    def __init__(self, conn: Connections):
        self.conn = conn
        self._pending_mutex = threading.Lock()
        self._pending: list[_PendingBatch] = []

    def add_events(self, events: list[InboxEvent], received_at: datetime) -> int:
        """Commit a delivery's events; duplicates are ignored. Returns how many were new.

        Group commit: concurrent deliveries in this process queue up, and whichever thread gets the
        write lock commits all queued ones in one transaction, so one fsync covers many requests.
        Each caller still returns only after the commit that holds its events, and raises
        StoreUnavailable (answer 503) when its own events were not committed, whatever the reason.
        """
        now = iso(received_at)
        batch = _PendingBatch(
            [(e.source, e.event_type, e.dedupe_key, e.record_key, iso(e.occurred_at), now, e.body, now)
             for e in events]
        )
        with self._pending_mutex:
            self._pending.append(batch)
        with self.conn.write_lock:
            if not batch.settled:
                self._commit_pending()
        if batch.error is not None:
            raise StoreUnavailable(f"could not commit {len(batch.rows)} event(s): {batch.error!r}") from batch.error
        return batch.new

    def _commit_pending(self) -> None:
        """Commit every delivery queued in this process (the caller holds the write lock), taking the queue
        only once this process's turn to write has come: deliveries that arrive while another process
        writes join this commit and share its fsync, instead of waiting for one more turn each."""
        group: list[_PendingBatch] = []
        try:
            with self.conn.writers_turn():
                with self._pending_mutex:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        except Exception as error:  # no turn within busy_timeout: nothing queued was committed
            if not group:
                with self._pending_mutex:
                    group, self._pending = self._pending, []
            for batch in group:
                if not batch.settled:
                    batch.error = error

    def _commit_group(self, group: list[_PendingBatch]) -> None:
        """Insert every queued delivery in one transaction (the caller has the writer's turn), and settle each.

        Nothing one delivery holds may cost another its answer: when the shared transaction fails for a
        reason that may be one delivery's own (an exception of any type other than the database being busy,
        full or unreadable), each delivery is committed alone, so the healthy ones are stored and only the
        one that cannot be stored fails. Every batch leaves settled, with its own count or its own error.
        """
        try:
            for batch, new in zip(group, self._insert(group), strict=True):
                batch.new = new
        except sqlite3.OperationalError as error:  # locked, disk full, I/O: no delivery would commit alone
            for batch in group:
                batch.error = error
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
            else:
                for batch in group:
                    try:
                        (batch.new,) = self._insert([batch])
                    except Exception as own:
                        batch.error = own
        finally:
            for batch in group:  # interrupted (a BaseException): whoever has no answer was not committed
                if not batch.settled:
                    batch.error = RuntimeError("the group commit was interrupted")

    def _insert(self, group: list[_PendingBatch]) -> list[int]:
        """Insert the batches' rows in one transaction; how many of each batch's rows were new.

        Many rows per statement, not executemany: sqlite3 lets go of the GIL for every statement step, and
        while other request threads parse JSON, taking it back can wait a whole switch interval (5 ms). Row
        by row, a 100-event delivery took up to 500 ms that way while every queued delivery waited for it
        (the ingest p99); one statement per 100 rows takes the GIL back a few times per commit.
        """
        new_counts = []
        with self.conn.immediate() as db:
            for batch in group:
                before = db.conn.total_changes
                for start in range(0, len(batch.rows), _ROWS_PER_INSERT):
                    rows = batch.rows[start:start + _ROWS_PER_INSERT]
                    db.conn.execute(_insert_inbox_sql(len(rows)), [value for row in rows for value in row])
                new_counts.append(db.conn.total_changes - before)
        return new_counts

    def add_rejected(self, source: str, reason: str, body: bytes, content_type: str | None,
                     received_at: datetime, budget_bytes: int | None = None) -> int:
        """Keep a refused delivery's raw body (bytes, stored as they came) with the reason; StoreUnavailable
        when it cannot be kept. Text that UTF-8 cannot encode is kept with \\u escapes instead. Once the bodies
        kept for `source` would pass `budget_bytes`, a longer body is kept cut to CUT_BODY_BYTES, and the reason
        says so."""
        def text(value: str | None) -> str | None:
            return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")

        try:
            with self.conn.transaction() as db:
                if budget_bytes is not None and len(body) > CUT_BODY_BYTES:
                    kept = db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM rejected WHERE source = ?",
                                      [source]).fetchone()[0]
                    if kept + len(body) > budget_bytes:
                        reason = (f"{reason} [body cut from {len(body)} to {CUT_BODY_BYTES} bytes: the refused "
                                  f"bodies kept from {source} reached BRIDGE_REJECTED_MAX_MB]")
                        body = body[:CUT_BODY_BYTES]
                db["rejected"].insert(
                    {"source": source, "received_at": iso(received_at), "reason": text(reason),
                     "content_type": text(content_type), "body": bytes(body)}
                )
                return db["rejected"].last_pk
        except Exception as error:
            raise StoreUnavailable(f"could not keep the rejected delivery: {error!r}") from error

    def rejected(self, limit: int = 50) -> list[dict]:
        """Refused deliveries, newest first."""
        return list(self.conn.db.query("SELECT * FROM rejected ORDER BY id DESC LIMIT ?", [limit]))


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_inbox_sql(rows: int) -> str:
    # Only "?" placeholders are formatted into this statement.
    return ("INSERT OR IGNORE INTO inbox (source, event_type, dedupe_key, record_key, occurred_at, received_at, body,"  # noqa: S608
            " next_attempt_at) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows))
