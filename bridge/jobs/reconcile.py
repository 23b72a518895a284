"""The reconciliation job: read both sides within the API budget, plan (bridge/reconcile/plan.py), keep the run and its
report, and repair through the outbox only when told (--doit), refusing a plan that changes too much (--force).

Reads go through each connector at the lowest priority ("reconcile" in bridge/kernel/budget.py), so handoffs and
feedback keep their calls; a run also stops short of its share of each system's daily allowance. A refusal to wait
(429, a busy budget) is waited out with `wait`, the job's only pause: the CLI sleeps, the worker's reconcile lane
waits on its own stop event, and no other stage or lane is held up by it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from bridge.config import ReconcileSettings
from bridge.feedback.rules import FeedbackRules
from bridge.feedback.writeback import feedback as feedback_of
from bridge.kernel.budget import spending
from bridge.kernel.clock import Clock, iso, parse_iso
from bridge.kernel.errors import ConnectorError, Paused, RateLimited, Transient
from bridge.mapping import TO_SOURCE, Route
from bridge.mapping.model import BOTH
from bridge.reconcile.model import Plan
from bridge.reconcile.plan import SCORE_PROPERTIES, LeadState, Planner, SideRecords
from bridge.reconcile.rows import Rows
from bridge.store import Store
from bridge.worker.feedback import events_of
from connectors.base import Connector

log = logging.getLogger(__name__)

#: HubSpot properties every run reads besides the routes' fields: the name a report shows, the lead status the
#: feedback writes, and Bridge's own copies of score, stage and temperature.
HUBSPOT_FIELDS = ("email", "firstname", "lastname", "hs_lead_status", "lifecyclestage", *SCORE_PROPERTIES)
#: Waits on one refusal longer than this end the run (failed, to be run again): a daily limit, a long outage.
LONGEST_WAIT = timedelta(minutes=15)
#: Ids read per call of a read by id: HubSpot's batch read takes 100 (Salesforce's SOQL IN and kintone's query more).
READ_CHUNK = 100
#: Handed-off leads compared at a time (their contacts read, then let go): the run holds the target records and this.
LEADS_AT_ONCE = 2000
Progress = Callable[[str, int, int], None]  # (system, records read, calls made)


class BudgetSpent(Exception):
    """The run reached its share of a system's daily allowance."""


@dataclass
class RunResult:
    run_id: int
    status: str  # planned | applied | refused | failed
    plan: Plan | None
    calls: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    repaired: int = 0


class Reconciler:
    """One reconciliation at a time per call of `run`; `wait(seconds)` waits out a refusal (returns False to stop)."""

    def __init__(self, store: Store, routes: Callable[[], Mapping[str, Route]],
                 feedback: Callable[[], FeedbackRules | None], connectors: Mapping[str, Connector],
                 settings: ReconcileSettings, clock: Clock, wait: Callable[[float], bool],
                 progress: Progress | None = None):
        self.store, self.routes, self.feedback, self.connectors = store, routes, feedback, connectors
        self.settings, self.clock, self.wait, self.progress = settings, clock, wait, progress

    # -- the run ---------------------------------------------------------------------------------

    def run(self, full: bool = False, doit: bool = False, force: bool = False, trigger: str = "cli") -> RunResult:
        now = self.clock()
        mode, since = self.mode(full, now)
        runs = self.store.reconciliations
        run_id = runs.start(mode, doit, force, since, trigger, now)
        before = self._calls()
        try:
            with spending("reconcile"):
                plan, read = self._plan(mode, since)
        except (BudgetSpent, ConnectorError, NotImplementedError) as error:  # the last: a plug-in without scan
            calls = self._calls() - before
            runs.finish(run_id, "failed", self.clock(), calls=calls, error=str(error))
            log.warning("reconciliation %s failed: %s", run_id, error)
            return RunResult(run_id, "failed", None, calls, str(error))
        calls = self._calls() - before
        items = [item.to_dict() for item in plan.items]
        runs.save_items(run_id, items)
        share = plan.share()
        status, repaired = "planned", 0
        if doit and share > self.settings.max_change and not force:
            status = "refused"
        elif doit:
            repaired = self._repair(run_id, plan, read)
            status = "applied"
        runs.finish(run_id, status, self.clock(), compared=plan.compared, found=plan.counts(), repaired=repaired,
                    needs_person=len(plan.needs_person()), calls=calls, share=share)
        return RunResult(run_id, status, plan, calls, None, repaired)

    def mode(self, full: bool, now: datetime) -> tuple[str, datetime | None]:
        """Full when asked, when no run repaired yet, or when the last full one is `full_every_days` old; otherwise
        incremental from the last repairing run's start, less the overlap (changes saved while it read)."""
        runs = self.store.reconciliations
        last_full = runs.last_applied("full")
        if full or last_full is None or parse_iso(last_full["started_at"]) <= now - timedelta(
                days=self.settings.full_every_days):
            return "full", None
        last = runs.last_applied()
        return "incremental", parse_iso(last["started_at"]) - timedelta(minutes=self.settings.overlap_minutes)

    def due(self, now: datetime, since: datetime | None = None) -> bool:
        """Whether the schedule has a time after the last run's start (or `since`, before any run) and by `now`."""
        if not self.settings.schedule:
            return False
        if since is None:
            last = self.store.reconciliations.runs(limit=1)
            if not last:
                return False
            since = parse_iso(last[0]["started_at"])
        upcoming = next(CronSim(self.settings.schedule, since.astimezone(ZoneInfo(self.settings.zone))))
        return upcoming <= now

    # -- reading ---------------------------------------------------------------------------------

    def _plan(self, mode: str, since: datetime | None) -> tuple[Plan, Reads]:
        routes = [r for r in self.routes().values() if r.enabled and r.source.system == "hubspot"
                  and r.target.system in self.connectors]
        hubspot, reads = self.connectors["hubspot"], self.store.reconcile_reads
        hub_fields = _hubspot_fields(routes, hubspot)
        if mode == "full":
            targets = {r.name: self._side(self.connectors[r.target.system], r.target.object, self._read_all(
                r.target.system, lambda after, r=r: self.connectors[r.target.system].scan(
                    r.target.object, self._target_fields(r), after=after)), complete=True) for r in routes}
            for route in routes:
                self._deletions(route, targets[route.name], since=self.clock() - timedelta(days=15))
            chunks: Iterable[tuple[list[dict], dict[str, Mapping]]] = (
                # Only handed-off leads' contacts are compared: read by id, 100 a call, rather than paging through
                # every contact of the portal (most of which sales never saw) at search's 4 calls a second.
                (rows, self._read_ids("hubspot", [r["hubspot_id"] for r in rows],
                                      lambda ids: hubspot.read("contacts", ids, hub_fields)))
                for rows in reads.handed_leads(LEADS_AT_ONCE))
        else:
            contacts, targets, lead_rows = self._changed(routes, hubspot, hub_fields, since)
            chunks = [(lead_rows, contacts)]
        planner = Planner(mode, routes, targets, reads.hubspot_ids())
        changed_at, changed_by = self._read_some("hubspot", lambda: hubspot.change_fields("contacts"))
        kept: dict[str, Mapping] = {}  # the contacts of leads with drift: their repairs are built from them
        hubspot_ids: dict[int, str] = {}
        for rows, contacts in chunks:
            leads = self._lead_states(rows)
            before = len(planner.plan.items)
            planner.compare(leads, SideRecords("hubspot", "contacts", contacts, False,
                                               {lead.hubspot_id for lead in leads if lead.hubspot_id}, {},
                                               changed_at, changed_by))
            drifted = {item.lead_id for item in planner.plan.items[before:]}
            for lead in leads:
                if lead.id in drifted and lead.hubspot_id in contacts:
                    kept[lead.hubspot_id], hubspot_ids[lead.id] = contacts[lead.hubspot_id], lead.hubspot_id
        hub_side = SideRecords("hubspot", "contacts", kept, False, set(kept), {}, changed_at, changed_by)
        return planner.plan, Reads(hub_side, {route.name: (route, targets[route.name]) for route in routes},
                                   hubspot_ids)

    def _changed(self, routes: Sequence[Route], hubspot: Connector, hub_fields: list[str],
                 since: datetime) -> tuple[dict[str, Mapping], dict[str, SideRecords], list[dict]]:
        """An incremental read: what changed on any side since `since`, then the other side of each lead touched."""
        contacts = self._read_all("hubspot", lambda _: hubspot.changed_since("contacts", since, hub_fields))
        touched = set(contacts)
        changed: dict[str, dict[str, dict]] = {}
        reads = self.store.reconcile_reads
        for route in routes:
            connector = self.connectors[route.target.system]
            records = self._read_all(route.target.system, lambda _, c=connector, r=route: c.changed_since(
                r.target.object, since, self._target_fields(r)))
            changed[route.name] = records
            touched |= {str(rec[route.target.key]) for rec in records.values() if rec.get(route.target.key)}
            touched |= set(reads.leads_of_records(route.target.system, route.target.object, records).values())
        lead_rows = reads.leads(touched, handed_since=iso(since))
        touched |= {lead["hubspot_id"] for lead in lead_rows}
        missing = sorted(touched - set(contacts))
        contacts.update(self._read_ids("hubspot", missing, lambda ids: hubspot.read("contacts", ids, hub_fields)))
        targets = {}
        for route in routes:
            connector, where = self.connectors[route.target.system], (route.target.system, route.target.object)
            records = changed[route.name]
            linked = sorted({r[2] for lead in lead_rows for r in lead["records"] if r[:2] == where} - set(records))
            fields = self._target_fields(route)
            records.update(self._read_ids(route.target.system, linked, lambda ids, c=connector, o=route.target.object,
                                          f=fields: c.read(o, ids, f)))
            # Records Bridge never linked (a lost reply, one made by hand) are found by their key.
            by_key = self._read_ids(route.target.system, sorted(touched), lambda ids, c=connector, r=route, f=fields:
                                    c.read(r.target.object, ids, f, id_field=r.target.key))
            records.update({_record_id(connector, rec): rec for rec in by_key.values()})
            targets[route.name] = self._side(connector, route.target.object, records, complete=False, covered=touched)
            self._deletions(route, targets[route.name], since=since)
        return contacts, targets, lead_rows

    def _deletions(self, route: Route, side: SideRecords, since: datetime) -> None:
        connector = self.connectors[route.target.system]
        deleted = self._read_some(route.target.system, lambda: connector.deleted_since(route.target.object, since,
                                                                                         self.clock()))
        for record_id, when in deleted or ():
            side.deleted[record_id] = iso(when)
            side.records.pop(record_id, None)

    def _side(self, connector: Connector, object: str, records: dict[str, dict], complete: bool,
              covered: set[str] | None = None) -> SideRecords:
        changed_at, changed_by = self._read_some(connector.name, lambda: connector.change_fields(object))
        return SideRecords(connector.name, object, records, complete, set(covered or ()), {}, changed_at, changed_by)

    def _read_all(self, system: str, pages: Callable[[str | None], Iterator[dict]]) -> dict[str, Mapping]:
        """Every record `pages(after)` yields, by id, kept compactly (bridge/reconcile/rows.py); a refusal is waited
        out and the read resumes after the last id."""
        connector, table = self.connectors[system], Rows()
        found: dict[str, Mapping] = {}
        after: str | None = None
        start = connector.calls.total()
        while True:
            try:
                for record in pages(after):
                    record_id = _record_id(connector, record)
                    found[record_id] = table.add(record)
                    after = record_id
                    if len(found) % 500 == 0:
                        self._check_budget(system, connector.calls.total() - start, len(found))
                self._check_budget(system, connector.calls.total() - start, len(found))
                return found
            except (RateLimited, Transient, Paused) as error:
                self._wait_out(system, error)

    def _read_ids(self, system: str, ids: Sequence[str], read: Callable[[list[str]], dict[str, dict]]) \
            -> dict[str, dict]:
        """Records by id, a call's worth (READ_CHUNK) at a time, so a refusal costs only the call refused."""
        connector, found = self.connectors[system], {}
        start = connector.calls.total()
        for offset in range(0, len(ids), READ_CHUNK):
            found.update(self._read_some(system, lambda chunk=list(ids[offset:offset + READ_CHUNK]): read(chunk)))
            self._check_budget(system, connector.calls.total() - start, len(found))
        return found

    def _read_some(self, system: str, call: Callable[[], Any]) -> Any:
        """One read (a batch by ids, a describe), its refusals waited out."""
        while True:
            try:
                return call()
            except (RateLimited, Transient, Paused) as error:
                self._wait_out(system, error)

    def _wait_out(self, system: str, error: ConnectorError) -> None:
        seconds = getattr(error, "retry_after", None)
        until = getattr(error, "until", None)
        if until is not None:
            seconds = (until - self.clock()).total_seconds()
        seconds = max(1.0, float(seconds or 5.0))
        if seconds > LONGEST_WAIT.total_seconds():
            raise error
        log.info("reconciliation: %s asks to wait %.0f s (%s)", system, seconds, error)
        if not self.wait(seconds):
            raise error

    def _check_budget(self, system: str, calls: int, records: int) -> None:
        if self.progress is not None:
            self.progress(system, records, calls)
        allowance = int(self.settings.daily_calls.get(system, 0) * self.settings.daily_share)
        if allowance and calls >= allowance:
            raise BudgetSpent(f"{system}: the run used its {self.settings.daily_share:.0%} of the daily allowance "
                              f"({allowance:,} calls; BRIDGE_RECONCILE_API_PERCENT, BRIDGE_RECONCILE_DAILY_CALLS)")

    def _target_fields(self, route: Route) -> list[str]:
        """What to read of a route's target records: its fields, and who changed each record when."""
        changed = self._read_some(route.target.system, lambda: self.connectors[route.target.system].change_fields(
            route.target.object))
        return sorted({*_route_fields(route), *(name for name in changed if name)})

    def _calls(self) -> Counter[str]:
        return Counter({name: c.calls.total() for name, c in self.connectors.items()})

    def _lead_states(self, rows: list[dict]) -> list[LeadState]:
        rules = self.feedback()
        events = self.store.reconcile_reads.events_in_force(r["id"] for r in rows if r["handed_off_at"]) \
            if rules is not None else {}
        states = []
        for row in rows:
            told: dict[str, Any] = {}
            new_cycle = bool(row["handed_off_at"]) and row["cycle"] > 1
            if rules is not None and (row["id"] in events or new_cycle):
                told = dict(feedback_of(rules, events_of(events.get(row["id"], [])), row["lifecyclestage"],
                                        new_cycle=new_cycle).properties)
            states.append(LeadState(
                row["id"], row["hubspot_id"], row["email"], row["handed_off_at"], row["score"], row["stage"],
                row["temperature"], row["handoff_reason"],
                records={(s, o): (rid, at) for s, o, rid, at, _ in row["records"]},
                converted=frozenset((s, o) for s, o, _, _, converted in row["records"] if converted), told=told))
        return states

    # -- repairing -------------------------------------------------------------------------------

    def _repair(self, run_id: int, plan: Plan, read: Reads) -> int:
        """Queue each repair as an outbox write (idempotent: one open write per lead, kind and target), after keeping
        what was read where the writes are built from (the lead's HubSpot properties, the sales record's fields);
        returns how many items it repaired."""
        now = self.clock()
        writes: set[tuple[int, str, str]] = set()
        properties: dict[int, dict] = {}
        records: list[tuple[str, str, str, dict]] = []
        for item in plan.repairs():
            if item.lead_id is None:
                continue
            kind, target = {"upsert": ("repair", item.details.get("route")), "writeback": ("writeback", "hubspot"),
                            "feedback": ("feedback", "hubspot")}[item.action]
            writes.add((item.lead_id, kind, target))
            contact = read.contact_of(item.lead_id)
            if contact is not None:
                properties[item.lead_id] = contact
            route_side = read.targets.get(item.details.get("route", ""))
            record_id = item.details.get("target_record")
            if route_side is not None and record_id in route_side[1].records:
                side = route_side[1]
                records.append((side.system, side.object, record_id, side.records[record_id]))
        with self.store.unit_of_work() as work:
            work.reconcile_reads.refresh(properties, records)
            work.outbox.enqueue_many((lead_id, kind, target, now) for lead_id, kind, target in sorted(writes))
        repaired = [item["id"] for item in self.store.reconciliations.items(run_id, limit=len(plan.items) or 1)
                    if item["action"] != "person" and item["lead_id"] is not None]
        self.store.reconciliations.mark_repaired(run_id, repaired, now)
        return len(repaired)


@dataclass
class Reads:
    """What a run read, kept for its repairs: HubSpot's contacts, and each route's target records."""

    hubspot: SideRecords
    targets: dict[str, tuple[Route, SideRecords]]
    hubspot_ids: dict[int, str]  # lead id -> its HubSpot contact id

    def contact_of(self, lead_id: int) -> dict | None:
        return self.hubspot.records.get(self.hubspot_ids.get(lead_id, ""))


def _hubspot_fields(routes: Sequence[Route], hubspot: Connector) -> list[str]:
    names = list(HUBSPOT_FIELDS)
    for route in routes:
        names += route.source_fields()
        names += [f.source for f in route.fields if f.source and f.direction in (TO_SOURCE, BOTH)]
    changed_at, changed_by = hubspot.change_fields("contacts")
    names += [n for n in (changed_at, changed_by) if n]
    return sorted({n for n in names if not n.startswith("bridge.")})


def _route_fields(route: Route) -> list[str]:
    """The target fields a route writes or reads back (bridge.* values are Bridge's, not the record's)."""
    return [route.target.key, *(f.target for f in route.fields if not f.target.startswith("bridge."))]


def _record_id(connector: Connector, record: Mapping[str, Any]) -> str:
    for name in ("hs_object_id", "Id", "$id", "id"):
        if record.get(name) not in (None, ""):
            return str(record[name])
    raise ValueError(f"{connector.name} returned a record without an id")
