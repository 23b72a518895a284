"""Reconciliation runs and the drift items each found: written by the job, read by the report pages and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, Connections, chunked, flat, rows, value_rows
from bridge.store.sales import CYCLE_IN_FORCE

ITEM_COLUMNS = ("run_id", "kind", "system", "object", "lead_id", "record_id", "field", "expected", "actual",
                "changed_side", "changed_at", "changed_by", "action", "reason", "details", "lead_name")


def _text(value: Any) -> str | None:
    """A value as the items table keeps it: text as it is, anything else as JSON; text UTF-8 cannot encode (a lone
    UTF-16 surrogate a record may hold) with \\u escapes, so one odd value cannot fail a run's report."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class Reconciliations:
    def __init__(self, conn: Connections):
        self.conn = conn

    def start(self, mode: str, doit: bool, force: bool, since: datetime | None, trigger: str, now: datetime) -> int:
        """A new run; a run still marked running is one that was killed half-way: it is marked interrupted."""
        with self.conn.transaction() as db:
            db.execute("UPDATE reconcile_runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                       [iso(now)])
            return db.execute(
                "INSERT INTO reconcile_runs (mode, status, doit, force, since, started_at, trigger) "
                "VALUES (?, 'running', ?, ?, ?, ?, ?)",
                [mode, int(doit), int(force), iso(since) if since else None, iso(now), trigger]).lastrowid

    def save_items(self, run_id: int, items: Iterable[Mapping[str, Any]]) -> None:
        """Store a run's drift items (dicts with the Drift fields), a few hundred rows per statement."""
        values = [(run_id, i["kind"], i["system"], i["object"], i.get("lead_id"), _text(i.get("record_id")),
                   _text(i.get("field")), _text(i.get("expected")), _text(i.get("actual")), i.get("changed_side"),
                   _text(i.get("changed_at")), _text(i.get("changed_by")), i["action"], i["reason"],
                   _text(i.get("details") or {}), _text(i.get("lead_name")))
                  for i in items]
        with self.conn.transaction() as db:
            for chunk in chunked(values, ROWS_PER_STATEMENT // 2):
                db.execute(f"INSERT INTO reconcile_items ({', '.join(ITEM_COLUMNS)}) "  # noqa: S608 (fixed names)
                           f"VALUES {value_rows(chunk, len(ITEM_COLUMNS))}", flat(chunk))

    def mark_repaired(self, run_id: int, item_ids: Iterable[int], now: datetime) -> None:
        with self.conn.transaction() as db:
            for chunk in chunked(list(item_ids)):
                db.execute(f"UPDATE reconcile_items SET repaired_at = ? WHERE run_id = ? "  # noqa: S608
                           f"AND id IN ({', '.join('?' * len(chunk))})", [iso(now), run_id, *chunk])

    def finish(self, run_id: int, status: str, now: datetime, *, compared: Mapping[str, int] | None = None,
               found: Mapping[str, int] | None = None, repaired: int = 0, needs_person: int = 0,
               calls: Mapping[str, int] | None = None, share: float | None = None, error: str | None = None) -> None:
        with self.conn.transaction() as db:
            db.execute(
                "UPDATE reconcile_runs SET status = ?, finished_at = ?, compared = ?, found = ?, repaired = ?, "
                "needs_person = ?, calls = ?, share = ?, error = ? WHERE id = ?",
                [status, iso(now), json.dumps(dict(compared or {})), json.dumps(dict(found or {})), repaired,
                 needs_person, json.dumps(dict(calls or {})), share, error, run_id])

    def run(self, run_id: int) -> dict | None:
        found = rows(self.conn.db.execute("SELECT * FROM reconcile_runs WHERE id = ?", [run_id]))
        return _decoded(found[0]) if found else None

    def runs(self, limit: int = 50, offset: int = 0) -> list[dict]:
        """The newest runs first."""
        return [_decoded(r) for r in rows(self.conn.db.execute(
            "SELECT * FROM reconcile_runs ORDER BY id DESC LIMIT ? OFFSET ?", [limit, offset]))]

    def last_finished(self, mode: str | None = None) -> dict | None:
        """The newest run that read both sides to the end (planned, applied or refused), of `mode` if given."""
        where, args = ("AND mode = ?", [mode]) if mode else ("", [])
        found = rows(self.conn.db.execute(
            f"SELECT * FROM reconcile_runs WHERE status IN ('planned', 'applied', 'refused') {where} "  # noqa: S608
            "ORDER BY id DESC LIMIT 1", args))
        return _decoded(found[0]) if found else None

    def earlier(self, run_id: int, mode: str, limit: int = 7) -> list[dict]:
        """Runs before `run_id` of `mode` that read both sides to the end, newest first: what a report's trends and
        history compare the run with (the admin pages show any run, not only the newest)."""
        return [_decoded(r) for r in rows(self.conn.db.execute(
            "SELECT * FROM reconcile_runs WHERE id < ? AND mode = ? AND status IN ('planned', 'applied', 'refused') "
            "ORDER BY id DESC LIMIT ?", [run_id, mode, limit]))]

    def last_applied(self, mode: str | None = None) -> dict | None:
        """The newest run that repaired (--doit, not refused), of `mode` if given: where the next incremental run
        reads from. A plan alone, or a refused one, moves nothing: the --doit after it sees the same drift."""
        where, args = ("AND mode = ?", [mode]) if mode else ("", [])
        found = rows(self.conn.db.execute(
            f"SELECT * FROM reconcile_runs WHERE status = 'applied' {where} ORDER BY id DESC LIMIT 1", args))  # noqa: S608
        return _decoded(found[0]) if found else None

    def items(self, run_id: int, kind: str | None = None, limit: int = 500, offset: int = 0) -> list[dict]:
        where, args = ("AND kind = ?", [kind]) if kind else ("", [])
        return [_item(r) for r in rows(self.conn.db.execute(
            f"SELECT * FROM reconcile_items WHERE run_id = ? {where} ORDER BY kind, id LIMIT ? OFFSET ?",  # noqa: S608
            [run_id, *args, limit, offset]))]

    def item_count(self, run_id: int, kind: str | None = None) -> int:
        where, args = ("AND kind = ?", [kind]) if kind else ("", [])
        return self.conn.db.execute(f"SELECT count(*) FROM reconcile_items WHERE run_id = ? {where}",  # noqa: S608
                                    [run_id, *args]).fetchone()[0]

    def items_of_lead(self, lead_id: int, limit: int = 50) -> list[dict]:
        """Drift found on one lead (its timeline), newest first."""
        return [_item(r) for r in rows(self.conn.db.execute(
            "SELECT i.*, r.started_at AS run_started_at FROM reconcile_items AS i JOIN reconcile_runs AS r "
            "ON r.id = i.run_id WHERE i.lead_id = ? ORDER BY i.id DESC LIMIT ?", [lead_id, limit]))]


def _decoded(run: dict) -> dict:
    for name in ("compared", "found", "calls"):
        run[name] = json.loads(run[name]) if run.get(name) else {}
    return run


def _item(item: dict) -> dict:
    item["details"] = json.loads(item["details"]) if item.get("details") else {}
    return item


class ReconcileReads:
    """What a reconciliation needs of Bridge's own state, read in bulk (reconcile_runs aside)."""

    def __init__(self, conn: Connections):
        self.conn = conn

    def hubspot_ids(self) -> dict[str, int]:
        """Every lead's HubSpot id -> the lead's id: what tells an orphan (a record carrying an id no lead has)."""
        return dict(self.conn.db.execute("SELECT hubspot_id, id FROM leads WHERE hubspot_id IS NOT NULL"))

    def handed_leads(self, at_once: int) -> Iterator[list[dict]]:
        """The handed-off leads, `at_once` at a time in id order, as `leads` gives them: a run holds one batch."""
        after = 0
        while True:
            ids = [row[0] for row in self.conn.db.execute(
                "SELECT id FROM leads WHERE id > ? AND handed_off_at IS NOT NULL AND hubspot_id IS NOT NULL "
                "ORDER BY id LIMIT ?", [after, at_once])]
            if not ids:
                return
            yield self._leads(f"WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id", ids)
            after = ids[-1]

    def leads(self, hubspot_ids: Iterable[str], handed_since: str | None = None) -> list[dict]:
        """The leads of `hubspot_ids`, and those handed off at or after `handed_since`, as `_leads` gives them."""
        found: dict[int, dict] = {}
        for chunk in chunked(sorted(set(hubspot_ids))):
            found.update((lead["id"], lead) for lead in self._leads(
                f"WHERE hubspot_id IN ({', '.join('?' * len(chunk))})", chunk))
        if handed_since:
            found.update((lead["id"], lead) for lead in self._leads(
                "WHERE handed_off_at >= ? AND hubspot_id IS NOT NULL", [handed_since]) if lead["id"] not in found)
        return list(found.values())

    def _leads(self, where: str, params: list) -> list[dict]:
        """id, hubspot_id, email, handed_off_at, cycle, score, stage, temperature, handoff_reason, lifecyclestage (as
        last read), and `records`: [(system, object, record id, updated_at, converted)] of the leads `where` selects."""
        columns = ("SELECT id, hubspot_id, email, handed_off_at, cycle, score, stage, temperature, handoff_reason, "
                   "json_extract(properties, '$.lifecyclestage') AS lifecyclestage FROM leads ")
        found = rows(self.conn.db.execute(columns + where, params))  # the callers' fixed clauses; values are bound
        by_id = {lead["id"]: {**lead, "records": []} for lead in found}
        for chunk in chunked(sorted(by_id), 500):
            for lead_id, system, object, record_id, updated_at, converted in self.conn.db.execute(
                    "SELECT lead_id, system, object, record_id, updated_at, converted FROM lead_records "  # noqa: S608
                    f"WHERE lead_id IN ({', '.join('?' * len(chunk))}) ORDER BY id", chunk):
                by_id[lead_id]["records"].append((system, object, record_id, updated_at, bool(converted)))
        return list(by_id.values())

    def leads_of_records(self, system: str, object: str, record_ids: Iterable[str]) -> dict[str, str]:
        """record id -> the HubSpot id of its lead, for records linked to a lead."""
        found: dict[str, str] = {}
        for chunk in chunked(sorted(set(record_ids))):
            wanted = f"r.record_id IN ({', '.join('?' * len(chunk))})"
            statement = ("SELECT r.record_id, l.hubspot_id FROM lead_records AS r JOIN leads AS l "  # noqa: S608
                         "ON l.id = r.lead_id WHERE r.system = ? AND r.object = ? AND l.hubspot_id IS NOT NULL AND "
                         + wanted)
            for record_id, hubspot_id in self.conn.db.execute(statement, [system, object, *chunk]):
                found[record_id] = hubspot_id
        return found

    def events_in_force(self, lead_ids: Iterable[int]) -> dict[int, list[dict]]:
        """lead id -> the events whose word HubSpot must hear, oldest first (`Sales.events_in_force` in bulk)."""
        found: dict[int, list[dict]] = {}
        for chunk in chunked(sorted(set(lead_ids)), 500):
            for event in rows(self.conn.db.execute(
                    "SELECT e.* FROM sales_events AS e JOIN leads AS l ON l.id = e.lead_id "  # noqa: S608
                    f"WHERE e.lead_id IN ({', '.join('?' * len(chunk))}) AND e.cycle = {CYCLE_IN_FORCE} "
                    "ORDER BY e.lead_id, e.occurred_at, e.id", chunk)):
                found.setdefault(event["lead_id"], []).append(event)
        return found

    def refresh(self, properties: Mapping[int, Mapping[str, Any]],
                record_fields: Iterable[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        """(In the caller's unit of work.) Before a repair is queued: each lead's HubSpot properties as just read
        (merged into those kept), and each (system, object, record id)'s fields as just read, so the writes the
        outbox builds from them carry today's values."""
        for lead_id, props in properties.items():
            self.conn.db.execute("UPDATE leads SET properties = json_patch(COALESCE(properties, '{}'), ?) WHERE id = ?",
                                 [json.dumps(dict(props), ensure_ascii=False, default=str), lead_id])
        for system, object, record_id, fields in record_fields:
            self.conn.db.execute("UPDATE lead_records SET fields = json_patch(COALESCE(fields, '{}'), ?) "
                                 "WHERE system = ? AND object = ? AND record_id = ?",
                                 [json.dumps(dict(fields), ensure_ascii=False, default=str), system, object, record_id])
