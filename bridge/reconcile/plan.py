"""The diff at the heart of a reconciliation: Bridge's leads, HubSpot's contacts and each route's target records in,
a `Plan` of drift items out. Pure: a function of what was read and `now`; nothing is read or written here.

What each side should hold comes from the mappings, both ways: a `to_target` field must hold what the route makes of
HubSpot's value; a `both` field is settled by its `conflict` rule; a `to_source` field must reach HubSpot as the
feedback write would send it. Fields a route fills from bridge.* values (score, stage, the handoff reason) are the
handoff's own snapshot, written once at handoff, and are not compared; HubSpot's bridge_score / bridge_stage /
bridge_temperature are (kind "stale").
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bridge.mapping import TO_SOURCE, FieldMap, Route, winner
from bridge.mapping.apply import value_function
from bridge.mapping.model import BOTH, TO_TARGET, is_blank
from bridge.mapping.names import join_name
from bridge.mapping.record import route_input
from bridge.reconcile.model import Drift, Plan

#: HubSpot properties Bridge writes back at handoff, and the lead values they show (bridge/worker/outbox.py).
SCORE_PROPERTIES = {"bridge_score": "score", "bridge_stage": "stage", "bridge_temperature": "temperature"}
BRIDGE_PREFIX = "bridge."
#: Results each field remembers: more distinct values than this, and it is a field of unique values (an address).
MEMO_SIZE = 50_000


@dataclass(frozen=True)
class LeadState:
    """A lead as Bridge knows it: its ids, whether it is handed off, its own values, and its records elsewhere."""

    id: int
    hubspot_id: str | None
    email: str | None
    handed_off_at: str | None
    score: Any = None
    stage: Any = None
    temperature: Any = None
    handoff_reason: str | None = None
    #: (system, object) -> (record id, when Bridge last wrote or read it)
    records: Mapping[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    converted: frozenset[tuple[str, str]] = frozenset()  # a converted Salesforce Lead is closed for writes
    #: What the feedback write sends HubSpot for this lead (hs_lead_status, bridge.sales_*), from its sales events.
    told: Mapping[str, Any] = field(default_factory=dict)

    def bridge_values(self) -> dict[str, Any]:
        return {"email": self.email, "hubspot_id": self.hubspot_id, "score": self.score, "stage": self.stage,
                "temperature": self.temperature, "handoff_reason": self.handoff_reason,
                "handed_off_at": self.handed_off_at}


@dataclass
class SideRecords:
    """One system object's records as read. `complete`: every record was read (a full scan), so a record not here
    does not exist; otherwise only the leads in `covered` (HubSpot ids) had their records looked up.
    `deleted`: record id -> when, as the system reported deletions. `changed_at` / `changed_by`: the fields that
    say when and by whom a record was last modified (connectors' `change_fields`)."""

    system: str
    object: str
    records: dict[str, dict[str, Any]]
    complete: bool = True
    covered: set[str] = field(default_factory=set)
    deleted: dict[str, str] = field(default_factory=dict)
    changed_at: str | None = None
    changed_by: str | None = None

    def knows_absence(self, hubspot_id: str | None) -> bool:
        return self.complete or (hubspot_id is not None and hubspot_id in self.covered)


def plan_reconciliation(mode: str, leads: Iterable[LeadState], hubspot: SideRecords,
                        targets: Mapping[str, SideRecords], routes: Iterable[Route]) -> Plan:
    """Every drift between `hubspot`, each enabled route's target (`targets`, by route name) and Bridge's `leads`:
    a `Planner` fed the leads at once."""
    leads = list(leads)
    planner = Planner(mode, routes, targets, {lead.hubspot_id: lead.id for lead in leads if lead.hubspot_id})
    planner.compare(leads, hubspot)
    return planner.plan


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The diff makes no reference cycles, but walks hundreds of thousands of records: the cyclic collector would
    scan them again and again as its young generations fill (a third of the time at 1,000,000 records)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class Planner:
    """The diff, fed a chunk of leads at a time (with their HubSpot contacts), so a run holds the target records and
    one chunk, not every contact and every lead. The target-side findings (orphans, duplicates) come at once from
    the targets and `known`: every lead's HubSpot id, mapped to the lead's id."""

    def __init__(self, mode: str, routes: Iterable[Route], targets: Mapping[str, SideRecords],
                 known: Mapping[str, int]):
        self.plan = Plan(mode)
        self.plan.compared["hubspot"] = 0  # first: the report lists the systems in the order they were counted
        self.routes: list[tuple[Route, SideRecords, _Checks, dict[str, list[str]]]] = []
        with _without_cycle_collection():
            for route in routes:
                side = targets.get(route.name)
                if route.enabled and side is not None:
                    self.routes.append(self._index(route, side, known))

    def _index(self, route: Route, side: SideRecords, known: Mapping[str, int]) \
            -> tuple[Route, SideRecords, _Checks, dict[str, list[str]]]:
        """Index a route's target records by the HubSpot id they carry; report orphans and duplicates."""
        plan, key_field, checks = self.plan, route.target.key, _Checks(route)
        plan.compared[side.system] += len(side.records)
        by_key: dict[str, list[str]] = defaultdict(list)
        for record_id, record in side.records.items():
            key = record.get(key_field)
            if key is not None and (key.__class__ is not str or key.strip()):
                by_key[str(key).strip()].append(record_id)
        plan.items.extend(_duplicates(route, checks, side, by_key, known))
        for key, record_ids in by_key.items():
            if key not in known:
                for record_id in record_ids:
                    plan.items.append(Drift("orphan", side.system, side.object, "person", "no_lead",
                                            lead_name=checks.record_name(side.records[record_id]),
                                            record_id=record_id, changed_side=side.system,
                                            **_when(side, side.records[record_id]),
                                            details={"route": route.name, "key_field": key_field, "key": key}))
        return route, side, checks, by_key

    def compare(self, leads: Iterable[LeadState], hubspot: SideRecords) -> None:
        """Compare these leads (those handed off) with their contacts (`hubspot`) and their records in each target."""
        plan = self.plan
        plan.compared["hubspot"] += len(hubspot.records)
        with _without_cycle_collection():
            handed = [lead for lead in leads if lead.handed_off_at and lead.hubspot_id]
            for lead in handed:
                contact = hubspot.records.get(lead.hubspot_id)
                if contact is None:
                    if hubspot.knows_absence(lead.hubspot_id):
                        plan.items.append(Drift("deleted", "hubspot", hubspot.object, "person", "deleted_in_hubspot",
                                                lead.id, _name(None, lead), lead.hubspot_id, changed_side="hubspot"))
                    continue
                plan.items.extend(_stale(lead, contact, hubspot))
            for route, side, checks, by_key in self.routes:
                _compare_route(plan, route, side, checks, by_key, handed, hubspot)


def _compare_route(plan: Plan, route: Route, side: SideRecords, checks: _Checks, by_key: Mapping[str, list[str]],
                   handed: list[LeadState], hubspot: SideRecords) -> None:
    key_field, where = route.target.key, (route.target.system, route.target.object)
    for lead in handed:
        contact = hubspot.records.get(lead.hubspot_id)
        if contact is None or where in lead.converted:
            continue
        linked, linked_at = lead.records.get(where, (None, None))
        record_id = linked if linked in side.records else next(iter(by_key.get(lead.hubspot_id, ())), None)
        if record_id is None:
            if not side.knows_absence(lead.hubspot_id):
                continue
            if linked is not None:
                plan.items.append(Drift("deleted", side.system, side.object, "person", "deleted_in_target", lead.id,
                                        _name(contact, lead), linked, changed_side=side.system,
                                        changed_at=side.deleted.get(linked),
                                        details={"route": route.name, "deleted_at": side.deleted.get(linked)}))
            else:
                plan.items.append(Drift("missing", side.system, side.object, "upsert", "not_in_target", lead.id,
                                        _name(contact, lead), changed_side="bridge",
                                        details={"route": route.name, "key_field": key_field}))
            continue
        plan.items.extend(checks.drift(lead, contact, side, record_id, linked_at, hubspot))


@dataclass(frozen=True)
class _Field:
    """One field of a route as the diff computes it: `compute(record)` is `field_value` built once (text chains as
    plain string calls); `memo` remembers results by input when the chain reads nothing but its input (None: it
    reads other fields, a template or a name join, so it runs on the whole record every time)."""

    entry: FieldMap
    back: bool
    compute: Callable[[Mapping[str, Any]], tuple[Any, bool]]
    memo: dict | None

    @classmethod
    def of(cls, entry: FieldMap, back: bool) -> _Field:
        chain = entry.reverse if back and entry.direction == BOTH else entry.transforms
        memo = None if any(step.references() for step in chain) else {}
        return cls(entry, back, value_function(entry, back), memo)

    def value(self, raw: Any, record: Mapping[str, Any], whole: Callable[[], Mapping[str, Any]]) -> tuple[Any, bool]:
        """The field's value for an input `raw` read from `record` (which holds it under the field's name), or
        computed on `whole()`, the full record the route reads, when the chain reads more than its input."""
        memo = self.memo
        if memo is None:
            return self.compute(whole())
        if raw is None or raw.__class__ is str:
            found = memo.get(raw)
            if found is None:
                found = self.compute(record)
                if len(memo) < MEMO_SIZE:  # a field of unique values (an address) would only fill memory
                    memo[raw] = found
            return found
        return self.compute(record)


class _Checks:
    """A route's fields as the diff compares them, each computed the fast way and remembered by input where it can
    be (most fields: a trim, a map of industries): a million records then cost a dict look-up per field for values
    seen before, and plain string calls for the rest."""

    def __init__(self, route: Route):
        self.route = route
        #: the fields HubSpot's values are written through (to_target, both)
        self.forward = [_Field.of(f, False) for f in route.fields if f.direction in (TO_TARGET, BOTH) and f.source
                        and not f.source.startswith(BRIDGE_PREFIX)]
        #: the fields sales' values come back through (to_source, both), by HubSpot property
        self.backward = {f.source: _Field.of(f, True) for f in route.fields
                         if f.direction in (TO_SOURCE, BOTH) and f.source}
        self.reads_more = any(f.memo is None for f in self.forward)
        to_source = [f for f in self.backward.values() if f.entry.direction == TO_SOURCE]
        # to_source fields from feedback values (bridge.sales_*, never in a record) that send nothing when empty: a
        # lead without that feedback value skips them
        silent = [f for f in to_source if f.entry.target.startswith(BRIDGE_PREFIX) and f.memo is not None
                  and not f.compute({})[1]]
        self.told_only = silent
        self.always = [f for f in to_source if f not in silent]
        #: where the target record keeps the person's family name, given name and address (for naming orphans)
        self.named = {source: next((f.target for f in route.fields if f.source == source and f.writes_target()), None)
                      for source in ("lastname", "firstname", "email")}

    def record_name(self, record: Mapping[str, Any]) -> str | None:
        """A target record without a lead, named as the report names leads: 姓 名 <email>."""
        return _name({source: record.get(target) for source, target in self.named.items() if target}, None)

    def drift(self, lead: LeadState, contact: Mapping[str, Any], side: SideRecords, record_id: str,
              linked_at: str | None, hubspot: SideRecords) -> list[Drift]:
        """The fields of one lead's record that differ from what the route says, each with who should win."""
        route, record = self.route, side.records[record_id]
        get, target_get, found = contact.get, record.get, []
        # the whole record a route reads, built only for a field whose transforms read more than its input
        whole = _Lazy(lambda: route_input(contact, lead.bridge_values())) if self.reads_more else dict
        for field_ in self.forward:
            entry, memo = field_.entry, field_.memo
            raw = get(entry.source)
            found_ = memo.get(raw) if memo is not None and (raw is None or raw.__class__ is str) else None
            expected, sent = found_ or field_.value(raw, contact, whole)  # the memo inline: the hot path
            actual = target_get(entry.target)
            if not sent or expected == actual or same(expected, actual):
                continue  # a route never empties a field: an empty HubSpot value is not sent, so it is no drift
            rule = entry.conflict if entry.direction == BOTH else None
            target_time = _time(target_get(side.changed_at)) if side.changed_at else None
            source_time = _time(get(hubspot.changed_at)) if hubspot.changed_at else None
            wins = "source" if rule is None else _winner(rule, expected, actual, source_time, target_time)
            changed = _changed_side(side, record, linked_at, contact, hubspot)
            if wins == "source":
                found.append(Drift("differs", side.system, side.object, "upsert", "source_wins", lead.id,
                                   _name(contact, lead), record_id, entry.target, expected, actual, **changed,
                                   details={"route": route.name, "rule": rule or TO_TARGET}))
                continue
            back, sent_back = self._back(self.backward[entry.source], lead, record)
            if sent_back and not same(back, get(entry.source)):
                found.append(Drift("differs", "hubspot", hubspot.object, "feedback", "target_wins", lead.id,
                                   _name(contact, lead), lead.hubspot_id, entry.source, back, get(entry.source),
                                   **changed, details={"route": route.name, "rule": rule, "target_record": record_id,
                                                       "target_system": side.system}))
        told = lead.told
        for field_ in (*self.always, *(f for f in self.told_only if f.entry.target in told)) if told else self.always:
            entry = field_.entry
            expected, sent = self._back(field_, lead, record)
            if not sent or same(expected, get(entry.source)):
                continue
            found.append(Drift("writeback", "hubspot", hubspot.object, "feedback", "sales_value_missing", lead.id,
                               _name(contact, lead), lead.hubspot_id, entry.source, expected, get(entry.source),
                               changed_side=side.system, **_by(side, record),
                               details={"route": route.name, "target_record": record_id,
                                        "target_system": side.system}))
        return found

    def _back(self, field_: _Field, lead: LeadState, record: Mapping[str, Any]) -> tuple[Any, bool]:
        """What HubSpot should hold of a field sales owns: the route's way back from the target record, with the
        feedback values (bridge.sales_*) over it, as the feedback write builds it."""
        name, key = field_.entry.target, self.route.target.key
        raw = lead.told[name] if name in lead.told else lead.hubspot_id if name == key else record.get(name)
        return field_.value(raw, {name: raw}, lambda: {**record, **lead.told, key: lead.hubspot_id})


class _Lazy:
    """A record built only when a field's transforms need the whole of it (a template, a name join)."""

    def __init__(self, build: Callable[[], Mapping[str, Any]]):
        self.build, self.value = build, None

    def __call__(self) -> Mapping[str, Any]:
        if self.value is None:
            self.value = self.build()
        return self.value


def _stale(lead: LeadState, contact: Mapping[str, Any], hubspot: SideRecords) -> list[Drift]:
    """HubSpot's copies of Bridge's score, stage and temperature that differ from Bridge's own."""
    found = []
    for prop, column in SCORE_PROPERTIES.items():
        ours, theirs = getattr(lead, column), contact.get(prop)
        if ours is not None and str(ours) != theirs and not same(ours, theirs):
            found.append(Drift("stale", "hubspot", hubspot.object, "writeback", "score_stale", lead.id,
                               _name(contact, lead), lead.hubspot_id, prop, ours, contact.get(prop),
                               changed_side="bridge"))
    if lead.told.get("hs_lead_status") and not same(lead.told["hs_lead_status"], contact.get("hs_lead_status")):
        found.append(Drift("writeback", "hubspot", hubspot.object, "feedback", "sales_value_missing", lead.id,
                           _name(contact, lead), lead.hubspot_id, "hs_lead_status", lead.told["hs_lead_status"],
                           contact.get("hs_lead_status"), changed_side="bridge", details={"route": "feedback"}))
    return found


def _duplicates(route: Route, checks: _Checks, side: SideRecords, by_key: Mapping[str, list[str]],
                known: Mapping[str, int]) -> list[Drift]:
    """Several target records for one HubSpot id (the key field), or for one email address among records Bridge
    keys: a person must say which one is the lead's."""
    found = []
    for key, record_ids in by_key.items():
        if len(record_ids) > 1:
            first = side.records[sorted(record_ids)[0]]
            found.append(Drift("duplicate", side.system, side.object, "person", "same_key", known.get(key),
                               checks.record_name(first), ", ".join(sorted(record_ids)),
                               details={"route": route.name, "key_field": route.target.key, "key": key,
                                        "records": sorted(record_ids)}))
    email_field = next((f.target for f in route.fields if f.source == "email" and f.writes_target()), None)
    if email_field is None:
        return found
    keyed = {record_id for record_ids in by_key.values() for record_id in record_ids}
    first: dict[str, str] = {}  # address -> the first record holding it; a list only once a second one comes
    by_email: dict[str, list[str]] = {}
    for record_id, record in side.records.items():
        email = record.get(email_field)
        if email is None or email == "":
            continue
        email = str(email).strip().lower()
        if not email:
            continue
        seen = first.setdefault(email, record_id)
        if seen != record_id:
            by_email.setdefault(email, [seen]).append(record_id)
    for email, record_ids in by_email.items():
        # A record Bridge keys beside one it does not (made by hand, or by a list import): two for one person.
        # Keyed records alone are reported by their keys (same_key), or are two leads that share an address.
        if keyed.intersection(record_ids) and not keyed.issuperset(record_ids):
            found.append(Drift("duplicate", side.system, side.object, "person", "same_email",
                               lead_name=checks.record_name(side.records[sorted(record_ids)[0]]),
                               record_id=", ".join(sorted(record_ids)),
                               details={"route": route.name, "email": email, "records": sorted(record_ids)}))
    return found


def _winner(rule: str, source: Any, target: Any, source_time: datetime | None,
            target_time: datetime | None) -> str:
    if rule == "newest_wins" and (source_time is None or target_time is None):
        return "target"  # without both change times the target's value stands: no write on a guess
    return winner(rule, source, target, source_time, target_time)


def _changed_side(side: SideRecords, record: Mapping[str, Any], linked_at: str | None,
                  contact: Mapping[str, Any], hubspot: SideRecords) -> dict[str, Any]:
    """Which side moved since Bridge last wrote or read the record: the target when it was saved after that,
    otherwise HubSpot (a change whose webhook never came, or an edit Bridge does not send after a handoff)."""
    target_time = _time(record.get(side.changed_at)) if side.changed_at else None
    if target_time is not None and (linked_at is None or target_time > _time(linked_at)):
        return {"changed_side": side.system, **_by(side, record)}
    return {"changed_side": "hubspot", **_when(hubspot, contact)}


def _by(side: SideRecords, record: Mapping[str, Any]) -> dict[str, Any]:
    who = record.get(side.changed_by) if side.changed_by else None
    if isinstance(who, Mapping):  # kintone's modifier: {"code": …, "name": …}
        who = who.get("name") or who.get("code")
    return {**_when(side, record), "changed_by": None if is_blank(who) else str(who)}


def _when(side: SideRecords, record: Mapping[str, Any] | None) -> dict[str, Any]:
    moment = _time(record.get(side.changed_at)) if record is not None and side.changed_at else None
    return {"changed_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None}


def _name(contact: Mapping[str, Any] | None, lead: LeadState | None) -> str | None:
    """How the report names a lead: its name as its script writes it (山田 太郎, Emily Carter) and its address."""
    contact = contact or {}
    name = join_name(str(contact.get("lastname") or "").strip(), str(contact.get("firstname") or "").strip())
    email = contact.get("email") or (lead.email if lead else None)
    if name and email:
        return f"{name} <{email}>"
    return name or email or None


def same(a: Any, b: Any) -> bool:
    """Whether two systems' spellings of one value are the same value: blanks alike, numbers by value ("100",
    100, 100.0), booleans by truth ("true", True), date-times by instant to the minute (kintone keeps minutes,
    HubSpot epoch milliseconds), lists as sets (multi-selects come back in any order), other text trimmed."""
    if is_blank(a) or is_blank(b):
        return is_blank(a) and is_blank(b)
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return sorted(map(_text, _listed(a))) == sorted(map(_text, _listed(b)))
    ta, tb = _text(a), _text(b)
    if ta == tb:
        return True
    if _boolean(ta) is not None and _boolean(ta) == _boolean(tb):
        return True
    na, nb = _number(ta), _number(tb)
    if na is not None and nb is not None:
        return na == nb
    da, db = _time(ta), _time(tb)
    return da is not None and db is not None and da.replace(second=0, microsecond=0) == db.replace(second=0,
                                                                                                      microsecond=0)


def _listed(value: Any) -> list:
    if isinstance(value, list | tuple):
        return list(value)
    return [part for part in str(value).split(";") if part.strip()]  # Salesforce multi-picklists: a;b;c


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.lower())


def _number(text: str) -> Decimal | None:
    if not text or not (text[0].isdigit() or text[0] in "+-."):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _time(value: Any) -> datetime | None:
    """An instant from ISO-8601 text or epoch milliseconds (HubSpot's datetime properties), else None."""
    if value is None:
        return None
    text = str(value).strip()
    if text.isdigit() and len(text) >= 12:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if len(text) < 16 or text[4] != "-" or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
