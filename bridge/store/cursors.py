"""Named positions that survive restarts (where a poll or a reconciliation got to), one row each."""

from __future__ import annotations

from datetime import datetime

from bridge.kernel.clock import iso
from bridge.store.db import Connections


class Cursors:
    def __init__(self, conn: Connections):
        self.conn = conn

    def get(self, name: str) -> str | None:
        row = self.conn.db.execute("SELECT value FROM cursors WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def set(self, name: str, value: str, now: datetime) -> None:
        """(Alone, or in the caller's unit of work.) Move the cursor `name` to `value`."""
        with self.conn.transaction() as db:
            db.execute("INSERT INTO cursors (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) "
                       "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                       [name, value, iso(now)])

    def all(self) -> dict[str, tuple[str, str]]:
        """name -> (value, updated_at), for the admin pages and /metrics."""
        return {name: (value, at) for name, value, at in self.conn.db.execute(
            "SELECT name, value, updated_at FROM cursors ORDER BY name")}
