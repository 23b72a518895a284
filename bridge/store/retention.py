"""Housekeeping: finished inbox events and old refused bodies removed past their retention; daily jobs claimed once."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.kernel.clock import iso, parse_iso
from bridge.store.db import Connections


class Retention:
    def __init__(self, conn: Connections):
        self.conn = conn

    def prune_inbox(self, finished_before: datetime, chunk: int = 500) -> tuple[int, int]:
        """Delete done events finished before the cutoff, with the normalised changes made from them (a change
        references its event); dead, pending and processing events always stay. Returns (events, changes).
        Each chunk is its own short transaction, so webhooks are not kept waiting for the write lock."""
        events = changes = 0
        while True:
            with self.conn.transaction() as db:
                ids = [row[0] for row in db.execute(
                    "SELECT id FROM inbox WHERE status = 'done' AND finished_at < ? ORDER BY id LIMIT ?",
                    [iso(finished_before), chunk])]
                if not ids:
                    return events, changes
                marks = ", ".join("?" * len(ids))  # only "?" placeholders are formatted into these statements
                changes += db.execute(f"DELETE FROM changes WHERE inbox_id IN ({marks})", ids).rowcount  # noqa: S608
                events += db.execute(f"DELETE FROM inbox WHERE id IN ({marks})", ids).rowcount  # noqa: S608
            if len(ids) < chunk:
                return events, changes

    def prune_rejected(self, received_before: datetime, chunk: int = 500) -> int:
        """Delete refused deliveries (their raw bodies) received before the cutoff; returns how many."""
        removed = 0
        while True:
            with self.conn.transaction() as db:
                count = db.execute("DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE received_at < ? "
                                   "ORDER BY id LIMIT ?)", [iso(received_before), chunk]).rowcount
            removed += count
            if count < chunk:
                return removed

    def claim_daily(self, action: str, actor: str, now: datetime, every: timedelta) -> tuple[int | None, datetime]:
        """Record in the audit log that `action` runs now, unless it ran less than `every` ago: of several
        workers asking at once, one gets the entry's id; the others get None. Also returns when it is next due."""
        with self.conn.transaction() as db:
            last = db.execute("SELECT MAX(at) FROM audit_log WHERE action = ?", [action]).fetchone()[0]
            if last is not None and parse_iso(last) > now - every:
                return None, parse_iso(last) + every
            entry = db.execute("INSERT INTO audit_log (at, actor, action) VALUES (?, ?, ?)",
                               [iso(now), actor, action]).lastrowid
            return entry, now + every

    def set_audit_detail(self, entry: int, detail: str) -> None:
        with self.conn.transaction() as db:
            db.execute("UPDATE audit_log SET detail = ? WHERE id = ?", [detail, entry])
