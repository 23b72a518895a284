"""Failed-write alerts: one episode per outbox target, alerted once, then announced once when it recovers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from bridge.kernel.clock import iso
from bridge.store.db import Connections


class Alerts:
    def __init__(self, conn: Connections):
        self.conn = conn

    def note_dead_letter(self, target: str, kind: str, reason: str, fields: Iterable[str],
                         now: datetime) -> None:
        """Count a dead letter in its target's unfinished episode, or open one (its alert is then due).
        An episode whose recovery was not announced yet is reopened: the failure goes on, no new alert.
        (In the caller's unit of work.)"""
        db = self.conn.db
        row = db.execute("SELECT id, fields FROM alerts WHERE target = ? AND recovered_notified_at IS NULL",
                         [target]).fetchone()
        if row is None:
            db["alerts"].insert({"target": target, "kind": kind, "state": "open", "first_at": iso(now),
                                 "last_at": iso(now), "count": 1, "last_reason": reason[:2000],
                                 "fields": json.dumps(sorted(set(fields))), "next_try_at": iso(now), "tries": 0})
            return
        named = sorted(set(json.loads(row[1] or "[]")) | set(fields))
        db.execute("UPDATE alerts SET state = 'open', recovered_at = NULL, count = count + 1, last_at = ?, "
                   "last_reason = ?, fields = ? WHERE id = ?", [iso(now), reason[:2000], json.dumps(named), row[0]])

    def note_clean_write(self, target: str, now: datetime) -> None:
        """(In the caller's unit of work.) A batch to `target` succeeded without a dead letter: its open episode
        has recovered."""
        self.conn.db.execute("UPDATE alerts SET state = 'recovered', recovered_at = ? "
                             "WHERE target = ? AND recovered_notified_at IS NULL AND state = 'open'",
                             [iso(now), target])

    def claim(self, now: datetime, lease: timedelta) -> dict | None:
        """Lease the oldest episode with a notice due (its alert, or its recovery once the alert was sent),
        so that one worker sends it; the lease is also the pause before another try if this one dies."""
        due = ("recovered_notified_at IS NULL AND (notified_at IS NULL OR state = 'recovered') "
               "AND next_try_at <= ?")
        # Asked on every worker loop: a plain read first, so an idle loop never takes the write lock.
        if self.conn.db.execute(f"SELECT 1 FROM alerts WHERE {due} LIMIT 1", [iso(now)]).fetchone() is None:  # noqa: S608
            return None
        with self.conn.transaction() as db:
            rows = db.execute(
                f"UPDATE alerts SET next_try_at = ? WHERE id = (SELECT id FROM alerts WHERE {due} "  # noqa: S608
                "ORDER BY id LIMIT 1) RETURNING *", [iso(now + lease), iso(now)])
            names = [d[0] for d in rows.description]
            row = rows.fetchone()
        return dict(zip(names, row, strict=True)) if row else None

    def sent(self, alert_id: int, recovery: bool, now: datetime) -> None:
        """The alert (or the recovery notice) was delivered. A recovery notice for an episode that failed again
        while it was being sent does not close it: the alert becomes due again instead."""
        with self.conn.transaction() as db:
            if not recovery:
                db.execute("UPDATE alerts SET notified_at = ?, tries = 0, send_error = NULL, next_try_at = ? "
                           "WHERE id = ?", [iso(now), iso(now), alert_id])
                return
            db.execute("UPDATE alerts SET recovered_notified_at = CASE WHEN state = 'recovered' THEN ? END, "
                       "notified_at = CASE WHEN state = 'recovered' THEN notified_at END, tries = 0, "
                       "send_error = NULL, next_try_at = ? WHERE id = ?", [iso(now), iso(now), alert_id])

    def failed(self, alert_id: int, error: str, retry_at: datetime) -> None:
        """The notice could not be sent: it stays due, from `retry_at` on."""
        with self.conn.transaction() as db:
            db.execute("UPDATE alerts SET tries = tries + 1, send_error = ?, next_try_at = ? WHERE id = ?",
                       [error[:500], iso(retry_at), alert_id])

    def list(self, limit: int = 50) -> list[dict]:
        """Failure episodes, newest first."""
        return list(self.conn.db.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", [limit]))
