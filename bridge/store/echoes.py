"""What Bridge wrote to each system, remembered for a day: a change that comes back equal to it is an echo."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, Connections, chunked, flat, value_rows

# How long a write of ours is remembered: webhooks follow within minutes; HubSpot retries within 24 h.
OWN_WRITE_MEMORY = timedelta(hours=24)


class Echoes:
    def __init__(self, conn: Connections):
        self.conn = conn

    def remember(self, system: str, writes: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
        """Remember what this service is about to write (record id -> fields), before writing it: the webhooks
        those writes cause may arrive before the write call returns."""
        written_at = iso(now)
        found = [(system, record_id, name, stored_text(value), written_at)
                 for record_id, fields in writes.items() for name, value in fields.items()]
        with self.conn.transaction() as db:
            for chunk in chunked(found, ROWS_PER_STATEMENT):  # rows in a few statements, not one step each
                db.execute("INSERT INTO own_writes (system, record_id, property, value, written_at) "  # noqa: S608
                           f"VALUES {value_rows(chunk, 5)}", flat(chunk))
            db.execute("DELETE FROM own_writes WHERE written_at < ?", [iso(now - OWN_WRITE_MEMORY)])

    def is_own(self, system: str, record_id: str, field: str, value: Any, now: datetime) -> bool:
        """Whether (record, field, value) is something this service wrote recently."""
        return self.conn.db.execute(
            "SELECT 1 FROM own_writes WHERE system = ? AND record_id = ? AND property = ? AND value IS ? "
            "AND written_at >= ? LIMIT 1",
            [system, record_id, field, stored_text(value), iso(now - OWN_WRITE_MEMORY)]).fetchone() is not None

    def all_own(self, system: str, record_id: str, fields: Mapping[str, Any], now: datetime) -> bool:
        """Whether every one of `fields` (a change's fields) is a value this service wrote recently: the change
        is then our own write coming back. An empty change is not an echo."""
        return bool(fields) and all(self.is_own(system, record_id, name, value, now)
                                    for name, value in fields.items())


    def own_values(self, records: Iterable[tuple[str, str]], now: datetime) -> dict[tuple[str, str], set]:
        """For each (system, record id), the (field, value) pairs this service wrote to it recently: a change is an
        echo when all its (field, stored_text(value)) pairs are among them."""
        found: dict[tuple[str, str], set] = {}
        for chunk in chunked(set(records), ROWS_PER_STATEMENT):
            for key in chunk:
                found[key] = set()
            for system, record_id, name, value in self.conn.db.execute(
                    f"WITH k(system, record_id) AS (VALUES {value_rows(chunk, 2)}) "  # noqa: S608
                    "SELECT o.system, o.record_id, o.property, o.value FROM k JOIN own_writes AS o "
                    "ON o.system = k.system AND o.record_id = k.record_id WHERE o.written_at >= ?",
                    [*flat(chunk), iso(now - OWN_WRITE_MEMORY)]):
                found[(system, record_id)].add((name, value))
        return found


def stored_text(value: Any) -> str | None:
    """A value as own_writes keeps it."""
    return None if value is None else str(value)
