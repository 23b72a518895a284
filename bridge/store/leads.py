"""Leads: who they are (and their records in every system), their activities, evaluations and handoffs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, Connections, chunked, flat, marks, row_time, rows, value_rows

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
        self.link_records([(lead_id, system, object, record_id, now)])

    def link_records(self, links: Iterable[tuple[int, str, str, str, datetime]]) -> None:
        """(In the caller's unit of work.) `link_record` for each (lead id, system, object, record id, now), in
        order (a record linked twice ends with the later lead)."""
        for chunk in chunked(((lead_id, system, object, record_id, row_time(now), row_time(now))
                              for lead_id, system, object, record_id, now in links), ROWS_PER_STATEMENT):
            self.conn.db.execute(
                "INSERT INTO lead_records (lead_id, system, object, record_id, linked_at, updated_at) "  # noqa: S608
                f"VALUES {value_rows(chunk, 6)} ON CONFLICT(system, object, record_id) "
                "DO UPDATE SET lead_id = excluded.lead_id", flat(chunk))

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
        self.note_versions([(system, object, record_id, version, now)])

    def note_versions(self, versions: Iterable[tuple[str, str, str, str | None, datetime]]) -> None:
        """(In the caller's unit of work.) `note_version` for each (system, object, record id, version, now): each
        record keeps the newest version of all."""
        newest: dict[tuple[str, str, str], tuple[str, str]] = {}
        for system, object, record_id, version, now in versions:
            key = (system, object, record_id)
            if version is not None and (key not in newest or version > newest[key][0]):
                newest[key] = (version, row_time(now))
        for chunk in chunked((*key, *value) for key, value in newest.items()):
            self.conn.db.execute(
                f"WITH t(system, object, record_id, version, at) AS (VALUES {value_rows(chunk, 5)}) "  # noqa: S608
                "UPDATE lead_records SET version = t.version, updated_at = t.at FROM t "
                "WHERE lead_records.system = t.system AND lead_records.object = t.object "
                "AND lead_records.record_id = t.record_id "
                "AND (lead_records.version IS NULL OR lead_records.version < t.version)", flat(chunk))

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
            lead_id = self.create(hubspot_id, email, 1, now)
        else:
            lead_id = row[0]
            self.touch_many([(lead_id, 1, refresh, hubspot_id, now)])
        if hubspot_id:
            self.link_record(lead_id, *HUBSPOT_CONTACTS, hubspot_id, now)
        return lead_id

    def create(self, hubspot_id: str | None, email: str | None, touches: int, now: datetime) -> int:
        """(In the caller's unit of work.) A new lead, queued for evaluation and a read, as touched `touches`
        times; returns its id. `email` in lower case."""
        return self.conn.db.execute(
            "INSERT INTO leads (hubspot_id, email, dirty, dirty_since, touches, needs_read, created_at) "
            "VALUES (?, ?, 1, ?, ?, 1, ?)", [hubspot_id, email, iso(now), touches, iso(now)]).lastrowid

    def touch_many(self, touches: Iterable[tuple[int, int, bool, str | None, datetime]]) -> None:
        """(In the caller's unit of work.) Queue existing leads for re-evaluation: each (lead id, times touched,
        refresh, HubSpot id or None, when first touched), one row per lead. A lead without a HubSpot id takes the
        one given."""
        for chunk in chunked(((lead_id, times, int(refresh), hubspot_id, row_time(now))
                              for lead_id, times, refresh, hubspot_id, now in touches), ROWS_PER_STATEMENT):
            self.conn.db.execute(
                f"WITH t(id, times, refresh, hubspot_id, at) AS (VALUES {value_rows(chunk, 5)}) "  # noqa: S608
                "UPDATE leads SET dirty = 1, dirty_since = COALESCE(dirty_since, t.at), touches = touches + t.times, "
                "needs_read = MAX(needs_read, t.refresh, read_at IS NULL), "
                "hubspot_id = COALESCE(leads.hubspot_id, t.hubspot_id) FROM t WHERE leads.id = t.id", flat(chunk))

    def identities(self, column: str, values: Iterable[str]) -> list[tuple[int, str | None, str | None]]:
        """(id, hubspot_id, email) of the leads whose `column` ("id", "hubspot_id" or "email": the caller's name,
        never a request's) is one of `values`."""
        found: list[tuple[int, str | None, str | None]] = []
        for chunk in chunked(values):
            found += self.conn.db.execute(f"SELECT id, hubspot_id, email FROM leads "  # noqa: S608
                                          f"WHERE {column} IN ({marks(chunk)})", chunk).fetchall()
        return found

    def records_by_keys(self, keys: Iterable[tuple[str, str, str]]) -> list[tuple]:
        """(system, object, record id, version, fields, lead id, HubSpot id, email) of each record (system,
        object, record id) of `keys` that is a lead's."""
        found: list[tuple] = []
        for chunk in chunked(keys, ROWS_PER_STATEMENT):
            found += self.conn.db.execute(
                f"WITH k(system, object, record_id) AS (VALUES {value_rows(chunk, 3)}) "  # noqa: S608
                "SELECT r.system, r.object, r.record_id, r.version, r.fields, l.id, l.hubspot_id, l.email "
                "FROM k JOIN lead_records AS r ON r.system = k.system AND r.object = k.object "
                "AND r.record_id = k.record_id JOIN leads AS l ON l.id = r.lead_id", flat(chunk)).fetchall()
        return found

    def add_activity(self, activity_id: str, lead_id: int, activity_type: str, occurred_at: str,
                     properties_json: str | None, inbox_id: int, now: datetime) -> bool:
        """(In the caller's unit of work.) Record an activity once (its id is the sender's); False when it was
        already there."""
        return self.add_activities([(activity_id, lead_id, activity_type, occurred_at, properties_json, inbox_id,
                                     now)]) == 1

    def add_activities(self, activities: Iterable[tuple[str, int, str, str, str | None, int, datetime]]) -> int:
        """(In the caller's unit of work.) `add_activity` for each (id, lead id, type, occurred_at, properties,
        inbox id, now); returns how many were new."""
        added = 0
        for chunk in chunked(((activity_id, lead_id, kind, occurred_at, row_time(now), properties, inbox_id)
                              for activity_id, lead_id, kind, occurred_at, properties, inbox_id, now in activities),
                             ROWS_PER_STATEMENT):
            added += self.conn.db.execute(
                "INSERT OR IGNORE INTO activities (id, lead_id, type, occurred_at, received_at, properties, "  # noqa: S608
                f"inbox_id) VALUES {value_rows(chunk, 7)}", flat(chunk)).rowcount
        return added

    def activities(self, lead_id: int) -> list[dict]:
        return self.activities_of([lead_id]).get(lead_id, [])

    def activities_of(self, lead_ids: Iterable[int]) -> dict[int, list[dict]]:
        """{lead id: its activities, oldest first} for those of the leads that have any."""
        found: dict[int, list[dict]] = {}
        for chunk in chunked(sorted(set(lead_ids))):
            for row in self.conn.db.query(f"SELECT * FROM activities WHERE lead_id IN ({marks(chunk)}) "  # noqa: S608
                                          "ORDER BY lead_id, occurred_at, id", chunk):
                found.setdefault(row["lead_id"], []).append(row)
        return found

    # -- evaluation ----------------------------------------------------------------------------
    def claim_dirty(self, now: datetime, lease_seconds: int, limit: int, linger: timedelta) -> list[dict]:
        """Lease up to `limit` leads waiting for evaluation, once a full batch waits or the oldest has
        waited `linger` (so a burst costs full batches of API reads, not one call per lead)."""
        now_s = iso(now)
        # Looked at without the write lock first: the stage polls, and most looks find nothing ready.
        waiting, oldest = self.conn.db.execute(
            "SELECT COUNT(*), MIN(dirty_since) FROM leads WHERE dirty = 1 "
            "AND (eval_lease_until IS NULL OR eval_lease_until <= ?)", [now_s]).fetchone()
        if not waiting or (waiting < limit and oldest > iso(now - linger)):
            return []
        with self.conn.transaction() as db:
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
        keep, touches = self._settle_identity(keep, touches, hubspot_id, email)
        self._apply_reads([(keep, touches, hubspot_id, email, properties_json)], now)
        return keep

    def save_records(self, reads: list[tuple[int, int, str | None, str | None, str | None]],
                     now: datetime) -> list[int | None]:
        """(In the caller's unit of work.) `save_record` for each (lead id, touches, HubSpot id, email,
        properties), in a few statements; returns the leads' ids in the same order (None: merged away).

        A read that touches another lead (its contact id or address belongs to another row, or to another read
        of the batch) is saved alone, after the others, as `save_record` does it: those are the merges."""
        reads = [(lead_id, touches, hubspot_id, email.lower() if email else None, properties)
                 for lead_id, touches, hubspot_id, email, properties in reads]
        existing = {row[0] for row in self.identities("id", [read[0] for read in reads])}
        owners = {(column, row[1 if column == "hubspot_id" else 2]): row[0]
                  for column, values in (("hubspot_id", {r[2] for r in reads if r[2]}),
                                         ("email", {r[3] for r in reads if r[3]}))
                  for row in self.identities(column, values)}
        claimed = Counter([("hubspot_id", r[2]) for r in reads if r[2]] + [("email", r[3]) for r in reads if r[3]])

        def alone(lead_id: int, hubspot_id: str | None, email: str | None) -> bool:
            keys = [key for key in (("hubspot_id", hubspot_id), ("email", email)) if key[1]]
            return any(owners.get(key, lead_id) != lead_id or claimed[key] > 1 for key in keys)

        together = [read for read in reads if read[0] in existing and not alone(read[0], read[2], read[3])]
        self._apply_reads(together, now)
        saved = {read[0]: read[0] for read in together}
        for lead_id, touches, hubspot_id, email, properties in reads:
            if lead_id not in saved:
                saved[lead_id] = self.save_record(lead_id, touches, hubspot_id, email, properties, now)
        return [saved[read[0]] for read in reads]

    def _settle_identity(self, keep: int, touches: int, hubspot_id: str | None, email: str | None) -> tuple[int, int]:
        """Before a lead takes a HubSpot record's id and address: merge with the row that has either, or take
        the address from a contact that had it before. Returns the lead that stays, and its touches (-1: it was
        not the leased row, so it is evaluated again)."""
        db = self.conn.db
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
        return keep, touches

    def _apply_reads(self, reads: list[tuple[int, int, str | None, str | None, str | None]], now: datetime) -> None:
        """Each (lead id, touches, HubSpot id, email, properties) read is the lead's now; a lead touched again
        since its lease (touches differ) stays to be read once more. One row per lead, no identity clashes."""
        for chunk in chunked(reads, ROWS_PER_STATEMENT):
            self.conn.db.execute(
                f"WITH t(id, touches, hubspot_id, email, properties) AS (VALUES {value_rows(chunk, 5)}) "  # noqa: S608
                "UPDATE leads SET hubspot_id = COALESCE(t.hubspot_id, leads.hubspot_id), "
                "email = COALESCE(t.email, leads.email), properties = COALESCE(t.properties, leads.properties), "
                "read_at = ?, needs_read = CASE WHEN leads.touches = t.touches THEN 0 ELSE needs_read END "
                "FROM t WHERE leads.id = t.id", [*flat(chunk), iso(now)])
        self.link_records((lead_id, *HUBSPOT_CONTACTS, hubspot_id, now) for lead_id, _, hubspot_id, _, _ in reads
                          if hubspot_id)

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
        self.save_decisions([(lead_id, touches, decision, summary, now)])

    def save_decisions(self, decisions: list[tuple[int, int, dict[str, Any], str, datetime]]) -> None:
        """(In the caller's unit of work.) `save_decision` for each (lead id, touches, decision, summary, now),
        in a few statements; a lead decided twice keeps the later decision."""
        found = [(lead_id, row_time(now), d["score"], d["stage"], d["temperature"], int(d["qualifies"]), d["excluded"],
                  d["criterion"], summary, json.dumps(d, ensure_ascii=False), touches)
                 for lead_id, touches, d, summary, now in decisions]
        for chunk in chunked([row[:10] for row in found], 90):  # 10 values a row, under 999 a statement
            self.conn.db.execute(
                "INSERT INTO decisions (lead_id, evaluated_at, score, stage, temperature, qualifies, excluded, "  # noqa: S608
                f"criterion, summary, explanation) VALUES {value_rows(chunk, 10)}", flat(chunk))
        latest = {row[0]: (row[0], row[2], row[3], row[4], row[6], row[8], row[1], row[10]) for row in found}
        for chunk in chunked(latest.values(), ROWS_PER_STATEMENT):
            self.conn.db.execute(
                "WITH t(id, score, stage, temperature, excluded, summary, at, touches) AS "  # noqa: S608
                f"(VALUES {value_rows(chunk, 8)}) "
                "UPDATE leads SET score = t.score, stage = t.stage, temperature = t.temperature, "
                "excluded = t.excluded, summary = t.summary, evaluated_at = t.at, eval_lease_until = NULL, "
                "dirty = CASE WHEN leads.touches = t.touches THEN 0 ELSE 1 END, "
                "dirty_since = CASE WHEN leads.touches = t.touches THEN NULL ELSE dirty_since END "
                "FROM t WHERE leads.id = t.id", flat(chunk))

    def mark_handed_off(self, lead_id: int, criterion: str, reason: str, now: datetime) -> bool:
        """(In the caller's unit of work.) Record the handoff once: False when the lead was handed off before
        (never twice)."""
        return lead_id in self.mark_many_handed_off([(lead_id, criterion, reason)], now)

    def mark_many_handed_off(self, handoffs: list[tuple[int, str, str]], now: datetime) -> set[int]:
        """(In the caller's unit of work.) `mark_handed_off` for each (lead id, criterion, reason); returns the
        leads handed off now (not those handed off before)."""
        handed: set[int] = set()
        for chunk in chunked(list({h[0]: h for h in handoffs}.values()), ROWS_PER_STATEMENT):
            handed.update(row[0] for row in self.conn.db.execute(
                f"WITH t(id, criterion, reason) AS (VALUES {value_rows(chunk, 3)}) "  # noqa: S608
                "UPDATE leads SET handed_off_at = ?, handoff_criterion = t.criterion, handoff_reason = t.reason "
                "FROM t WHERE leads.id = t.id AND leads.handed_off_at IS NULL RETURNING leads.id",
                [*flat(chunk), iso(now)]).fetchall())
        return handed

    def decisions(self, lead_id: int, limit: int = 50) -> list[dict]:
        return list(self.conn.db.query("SELECT * FROM decisions WHERE lead_id = ? ORDER BY id DESC LIMIT ?",
                                       [lead_id, limit]))
