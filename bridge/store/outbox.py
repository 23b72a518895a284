"""The outbox queue: writes per lead to a target (a route, HubSpot, Slack), claimed in batches per target."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from bridge.kernel.clock import iso
from bridge.store.db import marks, rows
from bridge.store.queue import LeasedQueue


class OutboxQueue(LeasedQueue):
    table = "outbox"
    noun = "write"
    has_fields = True

    def enqueue(self, lead_id: int, kind: str, target: str, now: datetime) -> None:
        """(In the caller's unit of work.) Queue a write for the lead; a no-op when the same write is already
        waiting."""
        self.conn.db.execute(
            "INSERT OR IGNORE INTO outbox (lead_id, kind, target, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
            [lead_id, kind, target, iso(now), iso(now)])

    def open_writes(self, lead_id: int, kind: str) -> int:
        return self.conn.db.execute("SELECT COUNT(*) FROM outbox WHERE lead_id = ? AND kind = ? "
                                    "AND status IN ('pending', 'processing')", [lead_id, kind]).fetchone()[0]

    def claim(self, owner: str, now: datetime, lease_seconds: int, batch_sizes: Mapping[str, int],
              linger: timedelta, targets: Collection[str] | None = None,
              other_than: Collection[str] = ()) -> list[dict]:
        """Lease one batch of ready writes for one (kind, target): the group with the oldest ready item that is
        full or has waited `linger`. Only `targets` when given, never those in `other_than` (each lane of the
        worker claims its own targets, so a slow target never holds up another)."""
        self.reap(now)
        now_s = iso(now)
        scope, params = "", []
        if targets is not None:
            scope, params = f" AND target IN ({marks(targets)})", list(targets)
        if other_than:
            scope += f" AND target NOT IN ({marks(other_than)})"
            params += list(other_than)
        with self.conn.transaction() as db:
            groups = db.execute(
                "SELECT kind, target, COUNT(*), MIN(next_attempt_at) AS oldest FROM outbox "  # noqa: S608
                f"WHERE status = 'pending' AND next_attempt_at <= ?{scope} GROUP BY kind, target ORDER BY oldest",
                [now_s, *params]).fetchall()
            for kind, target, ready, oldest in groups:
                size = batch_sizes.get(kind, 100)
                if ready >= size or oldest <= iso(now - linger):
                    return sorted(rows(db.execute(
                        "UPDATE outbox SET status = 'processing', lease_owner = ?, lease_expires_at = ? "
                        "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' "
                        "AND kind = ? AND target = ? AND next_attempt_at <= ? ORDER BY id LIMIT ?) RETURNING *",
                        [owner, iso(now + timedelta(seconds=lease_seconds)), kind, target, now_s, size])),
                        key=lambda item: item["id"])
        return []

    def dead_count(self, target: str) -> int:
        return self.conn.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND target = ?",
                                    [target]).fetchone()[0]
