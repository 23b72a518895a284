"""What Bridge wrote to each system, remembered for a day: a change that comes back equal to it is an echo."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import Connections

# How long a write of ours is remembered: webhooks follow within minutes; HubSpot retries within 24 h.
OWN_WRITE_MEMORY = timedelta(hours=24)


class Echoes:
    def __init__(self, conn: Connections):
        self.conn = conn

    def remember(self, system: str, writes: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
        """Remember what this service is about to write (record id -> fields), before writing it: the webhooks
        those writes cause may arrive before the write call returns."""
        found = [(system, record_id, name, _text(value), iso(now))
                 for record_id, fields in writes.items() for name, value in fields.items()]
        with self.conn.transaction() as db:
            db.conn.executemany("INSERT INTO own_writes (system, record_id, property, value, written_at) "
                                "VALUES (?, ?, ?, ?, ?)", found)
            db.execute("DELETE FROM own_writes WHERE written_at < ?", [iso(now - OWN_WRITE_MEMORY)])

    def is_own(self, system: str, record_id: str, field: str, value: Any, now: datetime) -> bool:
        """Whether (record, field, value) is something this service wrote recently."""
        return self.conn.db.execute(
            "SELECT 1 FROM own_writes WHERE system = ? AND record_id = ? AND property = ? AND value IS ? "
            "AND written_at >= ? LIMIT 1",
            [system, record_id, field, _text(value), iso(now - OWN_WRITE_MEMORY)]).fetchone() is not None

    def all_own(self, system: str, record_id: str, fields: Mapping[str, Any], now: datetime) -> bool:
        """Whether every one of `fields` (a change's fields) is a value this service wrote recently: the change
        is then our own write coming back. An empty change is not an echo."""
        return bool(fields) and all(self.is_own(system, record_id, name, value, now)
                                    for name, value in fields.items())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
