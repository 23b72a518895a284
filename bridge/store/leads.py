"""Leads: who they are (and their records in every system), their activities, evaluations and handoffs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import Connections, chunked, marks, rows

#: The lead's own record in the marketing system, also kept in lead_records so every system's id finds a lead.
HUBSPOT_CONTACTS = ("hubspot", "contacts")


class Leads:
    def __init__(self, conn: Connections):
        self.conn = conn

    # -- finding --------------------------------------------------------------------------------
    def get(self, lead_id: int) -> dict | None:
        found = list(self.conn.db.query("SELECT * FROM leads WHERE id = ?", [lead_id]))
        return found[0] if found else None

    def find(self, email: str | None = None, hubspot_id: str | None = None) -> dict | None:
        """The lead with this email or HubSpot id, with its `records` ({system: record id})."""
        column, value = ("email", email.lower()) if email else ("hubspot_id", hubspot_id)
        found = list(self.conn.db.query(f"SELECT * FROM leads WHERE {column} = ?", [value]))  # noqa: S608 (fixed names)
        return self._with_records(found)[0] if found else None

    def find_by_record(self, system: str, object: str, record_id: str) -> dict | None:
        """The lead a record of any system belongs to (a Salesforce Lead, a kintone record, a HubSpot contact)."""
        found = list(self.conn.db.query(
            "SELECT leads.* FROM lead_records JOIN leads ON leads.id = lead_records.lead_id "
            "WHERE system = ? AND object = ? AND record_id = ?", [system, object, record_id]))
        return found[0] if found else None

    def by_ids(self, lead_ids: Iterable[int]) -> dict[int, dict]:
        """Leads keyed by id, each with its `records` ({system: record id}); unknown ids are left out."""
        found: dict[int, dict] = {}
        for chunk in chunked(sorted(set(lead_ids))):
            found.update((row["id"], row) for row in self.conn.db.query(
                f"SELECT * FROM leads WHERE id IN ({marks(chunk)})", chunk))  # noqa: S608
        for lead_id, records in self.records_of(found).items():
            found[lead_id]["records"] = records
        return found

    def list(self, handed_off: bool | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        """Leads, newest first, each with its `records` ({system: record id})."""
        where = "" if handed_off is None else \
            "WHERE handed_off_at IS NOT NULL" if handed_off else "WHERE handed_off_at IS NULL"
        return self._with_records(list(self.conn.db.query(
            f"SELECT * FROM leads {where} ORDER BY id DESC LIMIT ? OFFSET ?", [limit, offset])))  # noqa: S608

    def _with_records(self, leads: list[dict]) -> list[dict]:
        records = self.records_of(lead["id"] for lead in leads)
        for lead in leads:
            lead["records"] = records.get(lead["id"], {})
        return leads

    def count(self, handed_off: bool | None = None) -> int:
        where = "" if handed_off is None else \
            "WHERE handed_off_at IS NOT NULL" if handed_off else "WHERE handed_off_at IS NULL"
        return self.conn.db.execute(f"SELECT COUNT(*) FROM leads {where}").fetchone()[0]  # noqa: S608 (fixed text)

    def states(self) -> dict[str, int]:
        """How many leads wait for evaluation, were handed off, are excluded: for /metrics."""
        waiting, handed_off, excluded = self.conn.db.execute(
            "SELECT COALESCE(SUM(dirty), 0), COUNT(handed_off_at), COUNT(excluded) FROM leads").fetchone()
        return {"waiting_evaluation": waiting, "handed_off": handed_off, "excluded": excluded}

    def dirty(self, limit: int) -> list[dict]:
        return list(self.conn.db.query("SELECT * FROM leads WHERE dirty = 1 ORDER BY dirty_since LIMIT ?", [limit]))

    # -- records in other systems ---------------------------------------------------------------
    def records_of(self, lead_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """{lead id: {system: record id}} for the given leads (the newest record per system)."""
        found: dict[int, dict[str, str]] = {}
        for chunk in chunked(sorted(set(lead_ids))):
            for lead_id, system, record_id in self.conn.db.execute(
                    f"SELECT lead_id, system, record_id FROM lead_records WHERE lead_id IN ({marks(chunk)}) "  # noqa: S608
                    "ORDER BY id", chunk):
                found.setdefault(lead_id, {})[system] = record_id
        return found

    def records(self, lead_id: int) -> list[dict]:
        """Every record of the lead in every system: system, object, record_id, version, linked_at."""
        return list(self.conn.db.query("SELECT system, object, record_id, version, linked_at, updated_at "
                                       "FROM lead_records WHERE lead_id = ? ORDER BY id", [lead_id]))

    def link_record(self, lead_id: int, system: str, object: str, record_id: str, now: datetime) -> None:
        """(In the caller's unit of work.) Remember that the lead is `record_id` in `system`; a record already
        linked to another lead moves to this one (a merge, or a record re-used after a delete)."""
        self.conn.db.execute(
            "INSERT INTO lead_records (lead_id, system, object, record_id, linked_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(system, object, record_id) DO UPDATE SET lead_id = excluded.lead_id",
            [lead_id, system, object, record_id, iso(now), iso(now)])

    def record_state(self, system: str, object: str, record_id: str) -> tuple[str | None, dict] | None:
        """The newest version seen of a record, and its fields as last read and applied (None: not a lead's record)."""
        row = self.conn.db.execute("SELECT version, fields FROM lead_records WHERE system = ? AND object = ? "
                                   "AND record_id = ?", [system, object, record_id]).fetchone()
        return None if row is None else (row[0], json.loads(row[1]) if row[1] else {})

    def record_fields(self, lead_id: int, system: str, object: str) -> dict | None:
        """The fields of the lead's newest record of `system` and `object`, as last read (None: it has none)."""
        row = self.conn.db.execute("SELECT fields FROM lead_records WHERE lead_id = ? AND system = ? AND object = ? "
                                   "ORDER BY id DESC LIMIT 1", [lead_id, system, object]).fetchone()
        return None if row is None else (json.loads(row[0]) if row[0] else {})

    def note_property(self, lead_id: int, name: str, value: Any) -> None:
        """(In the caller's unit of work.) A HubSpot property Bridge wrote, kept with the contact as last read."""
        self.conn.db.execute("UPDATE leads SET properties = json_set(COALESCE(properties, '{}'), ?, ?) WHERE id = ?",
                             [f"$.{name}", value, lead_id])

    def note_version(self, system: str, object: str, record_id: str, version: str | None, now: datetime) -> None:
        """(In the caller's unit of work.) The newest version of a record seen in a change: a later delivery with an
        older one is stale (deliveries come out of order)."""
        if version is not None:
            self.conn.db.execute(
                "UPDATE lead_records SET version = ?, updated_at = ? WHERE system = ? AND object = ? AND record_id = ? "
                "AND (version IS NULL OR version < ?)", [version, iso(now), system, object, record_id, version])

    # -- touching and activities -------------------------------------------------------------------
    def touch(self, now: datetime, hubspot_id: str | None = None, email: str | None = None,
              refresh: bool = False) -> int:
        """(In the caller's unit of work.) The lead's id, created if new, queued for re-evaluation.

        `refresh` says the HubSpot record changed, so it is read again (in a batch) before evaluating;
        an activity alone re-evaluates with the record already read.
        """
        db = self.conn.db
        email = email.lower() if email else None
        row = None
        if hubspot_id:
            row = db.execute("SELECT id FROM leads WHERE hubspot_id = ?", [hubspot_id]).fetchone()
        if row is None and email:
            row = db.execute("SELECT id FROM leads WHERE email = ?", [email]).fetchone()
        if row is None:
            lead_id = db.execute(
                "INSERT INTO leads (hubspot_id, email, dirty, dirty_since, touches, needs_read, created_at) "
                "VALUES (?, ?, 1, ?, 1, 1, ?)", [hubspot_id, email, iso(now), iso(now)]).lastrowid
        else:
            lead_id = row[0]
            db.execute("UPDATE leads SET dirty = 1, dirty_since = COALESCE(dirty_since, ?), touches = touches + 1, "
                       "needs_read = MAX(needs_read, ?, read_at IS NULL), hubspot_id = COALESCE(hubspot_id, ?) "
                       "WHERE id = ?", [iso(now), int(refresh), hubspot_id, lead_id])
        if hubspot_id:
            self.link_record(lead_id, *HUBSPOT_CONTACTS, hubspot_id, now)
        return lead_id

    def add_activity(self, activity_id: str, lead_id: int, activity_type: str, occurred_at: str,
                     properties_json: str | None, inbox_id: int, now: datetime) -> bool:
        """(In the caller's unit of work.) Record an activity once (its id is the sender's); False when it was
        already there."""
        return self.conn.db.execute(
            "INSERT OR IGNORE INTO activities (id, lead_id, type, occurred_at, received_at, properties, inbox_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [activity_id, lead_id, activity_type, occurred_at, iso(now), properties_json, inbox_id]).rowcount == 1

    def activities(self, lead_id: int) -> list[dict]:
        return list(self.conn.db.query("SELECT * FROM activities WHERE lead_id = ? ORDER BY occurred_at, id",
                                       [lead_id]))

    # -- evaluation ----------------------------------------------------------------------------
    def claim_dirty(self, now: datetime, lease_seconds: int, limit: int, linger: timedelta) -> list[dict]:
        """Lease up to `limit` leads waiting for evaluation, once a full batch waits or the oldest has
        waited `linger` (so a burst costs full batches of API reads, not one call per lead)."""
        now_s = iso(now)
        with self.conn.transaction() as db:
            waiting, oldest = db.execute(
                "SELECT COUNT(*), MIN(dirty_since) FROM leads WHERE dirty = 1 "
                "AND (eval_lease_until IS NULL OR eval_lease_until <= ?)", [now_s]).fetchone()
            if not waiting or (waiting < limit and oldest > iso(now - linger)):
                return []
            return rows(db.execute(
                "UPDATE leads SET eval_lease_until = ? WHERE id IN (SELECT id FROM leads WHERE dirty = 1 "
                "AND (eval_lease_until IS NULL OR eval_lease_until <= ?) ORDER BY dirty_since LIMIT ?) RETURNING *",
                [iso(now + timedelta(seconds=lease_seconds)), now_s, limit]))

    def release(self, lead_ids: Iterable[int], retry_at: datetime) -> None:
        """Give leased leads back, still dirty, to be evaluated again at `retry_at` (a read failed)."""
        ids = list(lead_ids)
        with self.conn.transaction() as db:
            db.execute(f"UPDATE leads SET eval_lease_until = ? WHERE id IN ({marks(ids)})",  # noqa: S608
                       [iso(retry_at), *ids])

    def save_record(self, lead_id: int, touches: int, hubspot_id: str | None, email: str | None,
                    properties_json: str | None, now: datetime) -> int | None:
        """(In the caller's unit of work.) Store the HubSpot record read for a lead leased with `touches`;
        returns the lead's id, or None when the lead was merged into another one meanwhile (earlier in the
        same batch).

        The id changes when two rows turn out to be one person (an email-only lead from an activity and
        the contact's own row): the row with the HubSpot id is kept and the other's activities move to it.
        A lead touched again since its lease stays queued, so a change during the read is not lost.
        """
        db = self.conn.db
        email = email.lower() if email else None
        keep = lead_id
        if db.execute("SELECT 1 FROM leads WHERE id = ?", [keep]).fetchone() is None:
            return None
        if hubspot_id:
            other = db.execute("SELECT id FROM leads WHERE hubspot_id = ? AND id != ?", [hubspot_id, keep]).fetchone()
            if other is not None:
                self._merge(other[0], keep)
                keep, touches = other[0], -1  # the survivor was not the leased row: evaluate it again
        if email:
            other = db.execute("SELECT id, hubspot_id FROM leads WHERE email = ? AND id != ?", [email, keep]).fetchone()
            if other is not None and other[1] and hubspot_id and other[1] != hubspot_id:
                # Another contact had this address before: it is re-read when it next changes.
                db.execute("UPDATE leads SET email = NULL, needs_read = 1 WHERE id = ?", [other[0]])
            elif other is not None:
                self._merge(keep, other[0])
        db.execute(
            "UPDATE leads SET hubspot_id = COALESCE(?, hubspot_id), email = COALESCE(?, email), "
            "properties = COALESCE(?, properties), read_at = ?, "
            "needs_read = CASE WHEN touches = ? THEN 0 ELSE needs_read END WHERE id = ?",
            [hubspot_id, email, properties_json, iso(now), touches, keep])
        if hubspot_id:
            self.link_record(keep, *HUBSPOT_CONTACTS, hubspot_id, now)
        return keep

    def _merge(self, survivor: int, gone: int) -> None:
        """Fold lead `gone` into `survivor`: its activities, decisions, writes and records move; its row goes."""
        db = self.conn.db
        handed_off_at, criterion, email = db.execute(
            "SELECT handed_off_at, handoff_criterion, email FROM leads WHERE id = ?", [gone]).fetchone()
        for table in ("activities", "decisions", "outbox", "lead_records"):
            db.execute(f"UPDATE {table} SET lead_id = ? WHERE lead_id = ?", [survivor, gone])  # noqa: S608
        db.execute("DELETE FROM leads WHERE id = ?", [gone])
        db.execute(
            "UPDATE leads SET handed_off_at = COALESCE(handed_off_at, ?), "
            "handoff_criterion = COALESCE(handoff_criterion, ?), email = COALESCE(email, ?), dirty = 1, "
            "dirty_since = COALESCE(dirty_since, created_at), touches = touches + 1 WHERE id = ?",
            [handed_off_at, criterion, email, survivor])

    def save_decision(self, lead_id: int, touches: int, decision: dict[str, Any], summary: str,
                      now: datetime) -> None:
        """(In the caller's unit of work.) Store an evaluation and put the lead to rest, unless it was touched
        again meanwhile."""
        db = self.conn.db
        db["decisions"].insert({
            "lead_id": lead_id, "evaluated_at": iso(now), "score": decision["score"], "stage": decision["stage"],
            "temperature": decision["temperature"], "qualifies": int(decision["qualifies"]),
            "excluded": decision["excluded"], "criterion": decision["criterion"], "summary": summary,
            "explanation": json.dumps(decision, ensure_ascii=False),
        })
        db.execute(
            "UPDATE leads SET score = ?, stage = ?, temperature = ?, excluded = ?, summary = ?, evaluated_at = ?, "
            "eval_lease_until = NULL, dirty = CASE WHEN touches = ? THEN 0 ELSE 1 END, "
            "dirty_since = CASE WHEN touches = ? THEN NULL ELSE dirty_since END WHERE id = ?",
            [decision["score"], decision["stage"], decision["temperature"], decision["excluded"], summary, iso(now),
             touches, touches, lead_id])

    def mark_handed_off(self, lead_id: int, criterion: str, reason: str, now: datetime) -> bool:
        """(In the caller's unit of work.) Record the handoff once: False when the lead was handed off before
        (never twice)."""
        return self.conn.db.execute(
            "UPDATE leads SET handed_off_at = ?, handoff_criterion = ?, handoff_reason = ? "
            "WHERE id = ? AND handed_off_at IS NULL", [iso(now), criterion, reason, lead_id]).rowcount == 1

    def decisions(self, lead_id: int, limit: int = 50) -> list[dict]:
        return list(self.conn.db.query("SELECT * FROM decisions WHERE lead_id = ? ORDER BY id DESC LIMIT ?",
                                       [lead_id, limit]))
