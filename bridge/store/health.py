"""Readiness facts: worker heartbeats, the schema version, whether the database takes a write."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bridge.kernel.clock import iso, parse_iso
from bridge.store.db import Connections
from bridge.store.migrations import migrations

#: Workers silent for a day (by their last beat, or their start when they never beat) are forgotten.
_FORGET = "DELETE FROM worker_heartbeats WHERE COALESCE(NULLIF(beat_at, ''), started_at) < ?"


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

    def beat(self, owner: str, started_at: datetime, now: datetime, lanes: Sequence[str] = ()) -> None:
        """Stamp a worker's heartbeat, with the lanes it runs (none named: every lane); workers silent for a day
        are forgotten."""
        with self.conn.transaction() as db:
            db.execute(
                "INSERT INTO worker_heartbeats (owner, started_at, beat_at, lanes) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(owner) DO UPDATE SET beat_at = excluded.beat_at, lanes = excluded.lanes",
                [owner, iso(started_at), iso(now), ",".join(lanes) or None],
            )
            db.execute(_FORGET, [iso(now - timedelta(days=1))])

    def register(self, owner: str, started_at: datetime, now: datetime, lanes: Sequence[str]) -> None:
        """A worker that starts names its lanes before its first beat (an empty beat_at: none yet), so one that
        hangs before a first pass still shows on /readyz."""
        with self.conn.transaction() as db:
            db.execute("INSERT INTO worker_heartbeats (owner, started_at, beat_at, lanes) VALUES (?, ?, '', ?) "
                       "ON CONFLICT(owner) DO UPDATE SET lanes = excluded.lanes",
                       [owner, iso(started_at), ",".join(lanes) or None])
            db.execute(_FORGET, [iso(now - timedelta(days=1))])

    def heartbeats(self) -> list[tuple[datetime | None, datetime, frozenset[str] | None]]:
        """(last beat or None, started, lanes run; None: every lane) of each known worker, newest beat first."""
        return [(parse_iso(beat_at) if beat_at else None, parse_iso(started_at),
                 frozenset(lanes.split(",")) if lanes else None) for beat_at, started_at, lanes in
                self.conn.db.execute("SELECT beat_at, started_at, lanes FROM worker_heartbeats ORDER BY beat_at DESC")]

    def last_heartbeat(self) -> datetime | None:
        """The newest stamp of any worker on this database; None when none has beaten yet."""
        stamp = self.conn.db.execute("SELECT MAX(beat_at) FROM worker_heartbeats WHERE beat_at != ''").fetchone()[0]
        return parse_iso(stamp) if stamp else None
