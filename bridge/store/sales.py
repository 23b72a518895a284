"""Sales records read again after they change, the sales events told from them, and handoff cycles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, Connections, chunked, flat, marks, row_time, rows, value_rows

#: The handoff cycle whose sales events HubSpot must hear, for a lead row `l`: its current cycle once it is handed off
#: in it (a new cycle starts from nothing: the last one's word is cleared), else the newest cycle that has events (a
#: recycle closes its cycle, and is still what marketing must hear while the lead is back with marketing).
CYCLE_IN_FORCE = ("(CASE WHEN l.handed_off_at IS NOT NULL THEN l.cycle "
                  "ELSE (SELECT MAX(cycle) FROM sales_events WHERE lead_id = l.id) END)")


class Sales:
    def __init__(self, conn: Connections):
        self.conn = conn

    # -- records to read ------------------------------------------------------------------------
    def mark_to_read(self, system: str, object: str, record_id: str, now: datetime) -> None:
        """(In the caller's unit of work.) The record changed: read it again, in a batch, before telling events."""
        self.mark_many_to_read([(system, object, record_id, now)])

    def mark_many_to_read(self, records: Iterable[tuple[str, str, str, datetime]]) -> None:
        """(In the caller's unit of work.) `mark_to_read` for each (system, object, record id, now)."""
        first = {}
        for system, object, record_id, now in records:  # a record waits from its first change on
            first.setdefault((system, object, record_id), row_time(now))
        for chunk in chunked(((*key, at) for key, at in first.items()), ROWS_PER_STATEMENT):
            self.conn.db.execute(
                f"WITH t(system, object, record_id, at) AS (VALUES {value_rows(chunk, 4)}) "  # noqa: S608
                "UPDATE lead_records SET needs_read = 1, dirty_since = COALESCE(dirty_since, t.at) FROM t "
                "WHERE lead_records.system = t.system AND lead_records.object = t.object "
                "AND lead_records.record_id = t.record_id", flat(chunk))

    def claim_to_read(self, system: str, now: datetime, lease_seconds: int, limit: int,
                      linger: timedelta) -> list[dict]:
        """Lease up to `limit` records of `system` to read, once a full batch waits or the oldest has waited
        `linger` (so a burst of status changes costs full batches of reads)."""
        now_s = iso(now)
        # Looked at without the write lock first: the stage polls, and most looks find nothing ready.
        waiting, oldest = self.conn.db.execute(
            "SELECT COUNT(*), MIN(dirty_since) FROM lead_records WHERE needs_read = 1 AND system = ? "
            "AND (read_lease_until IS NULL OR read_lease_until <= ?)", [system, now_s]).fetchone()
        if not waiting or (waiting < limit and oldest > iso(now - linger)):
            return []
        with self.conn.transaction() as db:
            return rows(db.execute(
                "UPDATE lead_records SET read_lease_until = ? WHERE id IN (SELECT id FROM lead_records "
                "WHERE needs_read = 1 AND system = ? AND (read_lease_until IS NULL OR read_lease_until <= ?) "
                "ORDER BY dirty_since LIMIT ?) RETURNING *",
                [iso(now + timedelta(seconds=lease_seconds)), system, now_s, limit]))

    def release(self, record_ids: Iterable[int], retry_at: datetime) -> None:
        """Give leased records back, still to read, from `retry_at` (the read failed)."""
        ids = list(record_ids)
        with self.conn.transaction() as db:
            db.execute(f"UPDATE lead_records SET read_lease_until = ? WHERE id IN ({marks(ids)})",  # noqa: S608
                       [iso(retry_at), *ids])

    def applied(self, row_id: int, version: str | None, fields: Mapping[str, Any], dirty_since: str | None,
                now: datetime) -> None:
        """(In the caller's unit of work.) The record as read is applied; it rests unless it changed again since
        it was leased (then it is read once more)."""
        self.conn.db.execute(
            "UPDATE lead_records SET version = COALESCE(?, version), fields = ?, updated_at = ?, read_lease_until = "
            "NULL, needs_read = CASE WHEN dirty_since IS ? THEN 0 ELSE 1 END, dirty_since = CASE WHEN dirty_since "
            "IS ? THEN NULL ELSE dirty_since END WHERE id = ?",
            [version, json.dumps(dict(fields), ensure_ascii=False, default=str), iso(now), dirty_since, dirty_since,
             row_id])

    def gone(self, row_id: int) -> None:
        """(In the caller's unit of work.) The record no longer exists where it was: nothing more to read."""
        self.conn.db.execute("UPDATE lead_records SET needs_read = 0, dirty_since = NULL, read_lease_until = NULL "
                             "WHERE id = ?", [row_id])

    def mark_converted(self, system: str, object: str, record_id: str) -> None:
        """(In the caller's unit of work.) A converted record: never written to again."""
        self.conn.db.execute("UPDATE lead_records SET converted = 1 WHERE system = ? AND object = ? AND record_id = ?",
                             [system, object, record_id])

    def converted(self, lead_id: int, system: str, object: str) -> bool:
        return lead_id in self.converted_leads([lead_id], system, object)

    def converted_leads(self, lead_ids: Iterable[int], system: str, object: str) -> set[int]:
        """Which of the leads have a converted record of `system` and `object` (never written to again)."""
        found: set[int] = set()
        for chunk in chunked(set(lead_ids)):
            found.update(row[0] for row in self.conn.db.execute(
                f"SELECT lead_id FROM lead_records WHERE lead_id IN ({marks(chunk)}) AND system = ? "  # noqa: S608
                "AND object = ? AND converted = 1", [*chunk, system, object]))
        return found

    def find_record(self, system: str, record_id: str) -> dict | None:
        """A lead's record of `system` with this id, whatever its object (a Task's WhoId names a Lead or Contact)."""
        found = list(self.conn.db.query("SELECT * FROM lead_records WHERE system = ? AND record_id = ? LIMIT 1",
                                        [system, record_id]))
        return found[0] if found else None

    # -- events ---------------------------------------------------------------------------------
    def add_event(self, lead_id: int, cycle: int, kind: str, system: str, object: str, record_id: str,
                  occurred_at: datetime, reason: str | None, reason_value: str | None, details: Mapping[str, Any],
                  now: datetime) -> int:
        """(In the caller's unit of work.)"""
        return self.conn.db.execute(
            "INSERT INTO sales_events (lead_id, cycle, kind, system, object, record_id, occurred_at, recorded_at, "
            "reason, reason_value, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [lead_id, cycle, kind, system, object, record_id, iso(occurred_at), iso(now), reason, reason_value,
             json.dumps(dict(details), ensure_ascii=False, default=str) if details else None]).lastrowid

    def events(self, lead_id: int, cycle: int | None = None) -> list[dict]:
        """The lead's sales events, oldest first: of one cycle, or all."""
        if cycle is None:
            return list(self.conn.db.query("SELECT * FROM sales_events WHERE lead_id = ? ORDER BY occurred_at, id",
                                           [lead_id]))
        return list(self.conn.db.query("SELECT * FROM sales_events WHERE lead_id = ? AND cycle = ? "
                                       "ORDER BY occurred_at, id", [lead_id, cycle]))

    def events_in_force(self, lead_id: int) -> list[dict]:
        """The events whose word HubSpot must hear, oldest first (see CYCLE_IN_FORCE)."""
        return list(self.conn.db.query(
            f"SELECT e.* FROM sales_events AS e JOIN leads AS l ON l.id = e.lead_id WHERE e.lead_id = ? "  # noqa: S608
            f"AND e.cycle = {CYCLE_IN_FORCE} ORDER BY e.occurred_at, e.id", [lead_id]))

    # -- handoff cycles -------------------------------------------------------------------------
    def reopen(self, lead_id: int, closed_by: str, reason: str | None, now: datetime) -> bool:
        """(In the caller's unit of work.) Sales gave the lead back: its cycle closes and a new one begins, in which
        it may qualify and be handed off again (exactly once). False when it was not handed off (nothing to close)."""
        db = self.conn.db
        row = db.execute("SELECT cycle, handed_off_at, handoff_criterion, handoff_reason FROM leads WHERE id = ? "
                         "AND handed_off_at IS NOT NULL", [lead_id]).fetchone()
        if row is None:
            return False
        cycle, handed_off_at, criterion, handoff_reason = row
        db.execute("INSERT OR IGNORE INTO handoffs (lead_id, cycle, handed_off_at, criterion, reason, closed_at, "
                   "closed_by, closed_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [lead_id, cycle, handed_off_at, criterion, handoff_reason, iso(now), closed_by, reason])
        db.execute("UPDATE leads SET cycle = cycle + 1, cycle_started_at = ?, handed_off_at = NULL, "
                   "handoff_criterion = NULL, handoff_reason = NULL WHERE id = ?", [iso(now), lead_id])
        return True

    def cycles(self, lead_id: int) -> list[dict]:
        """The lead's closed handoff cycles, oldest first."""
        return list(self.conn.db.query("SELECT * FROM handoffs WHERE lead_id = ? ORDER BY cycle", [lead_id]))
