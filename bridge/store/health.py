"""Readiness facts: worker heartbeats, the schema version, whether the database takes a write."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.kernel.clock import iso, parse_iso
from bridge.store.db import Connections
from bridge.store.migrations import migrations


class Health:
    def __init__(self, conn: Connections):
        self.conn = conn

    def ping(self) -> None:
        self.conn.db.execute("SELECT 1").fetchone()

    def pending_migrations(self) -> list[str]:
        return [m.name for m in migrations.pending(self.conn.db)]

    def check_writable(self, timeout_ms: int) -> None:
        """Take the write lock and give it back within about `timeout_ms`; StoreUnavailable saying why not."""
        self.conn.check_writable(timeout_ms)

    def beat(self, owner: str, started_at: datetime, now: datetime) -> None:
        """Stamp a worker's heartbeat; workers silent for a day are forgotten."""
        with self.conn.transaction() as db:
            db.execute(
                "INSERT INTO worker_heartbeats (owner, started_at, beat_at) VALUES (?, ?, ?) "
                "ON CONFLICT(owner) DO UPDATE SET beat_at = excluded.beat_at",
                [owner, iso(started_at), iso(now)],
            )
            db.execute("DELETE FROM worker_heartbeats WHERE beat_at < ?", [iso(now - timedelta(days=1))])

    def last_heartbeat(self) -> datetime | None:
        """The newest stamp of any worker on this database; None when none has beaten yet."""
        stamp = self.conn.db.execute("SELECT MAX(beat_at) FROM worker_heartbeats").fetchone()[0]
        return parse_iso(stamp) if stamp else None
