"""The inbox stage's unit of work for one batch of events: what its handlers look up is loaded in a few queries, and
what they write is kept and applied in a few statements, so a batch of 100 events costs about fifteen statements
instead of a dozen per event.

Why: every statement gives up Python's interpreter lock and must win it back from the worker's other lanes (one
thread per system), so a batch written one row at a time waited on the lock more than it worked (measured: 1,000
webhook events took 0.4 s alone and 1.5-2 s beside one busy thread). The handlers read and write through this
object as they would through the store: a lookup answers as if everything written before it were already applied;
`savepoint` undoes one event's part when its handler fails; `apply` writes it all, in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bridge.store.echoes import stored_text
from bridge.store.leads import HUBSPOT_CONTACTS
from bridge.store.queue import LeaseLost

if TYPE_CHECKING:
    from bridge.store import Work

RecordKey = tuple[str, str, str]  # (system, object, record id)
_MISSING = object()


@dataclass(eq=False)
class LeadRef:
    """A lead as the batch knows it; `id` is None for a lead the batch creates, until `apply`."""

    id: int | None
    hubspot_id: str | None
    email: str | None


@dataclass(eq=False)
class _Record:
    lead: LeadRef
    version: str | None
    fields: str | None  # as stored: JSON text


class InboxBatch:
    def __init__(self, work: Work, owner: str, event_ids: Collection[int]):
        self.work, self.owner = work, owner
        self._held = work.inbox.leased(event_ids, owner)
        self._leads: dict[int, LeadRef] = {}  # one LeadRef per lead id: what the batch changed stays with it
        self._records: dict[RecordKey, _Record | None] = {}
        self._by_hubspot_id: dict[str, LeadRef | None] = {}
        self._by_email: dict[str, LeadRef | None] = {}
        self._own: dict[tuple[str, str], set] = {}
        self._undo: list[Callable[[], None]] = []
        self._ops: dict[str, list] = {name: [] for name in (
            "new", "touches", "links", "versions", "to_read", "changes", "activities", "done")}

    # -- loading ----------------------------------------------------------------------------------
    def prefetch(self, records: Iterable[RecordKey] = (), hubspot_ids: Iterable[str] = (),
                 emails: Iterable[str] = (), now: datetime | None = None) -> None:
        """Load at once what the handlers are expected to look up: records (and their leads, and what Bridge
        wrote to them, from `now`'s point of view), leads by HubSpot id and by email. Anything not loaded here is
        looked up when asked."""
        records = set(records)
        self._load_records(records)
        if now is not None:
            pairs = {(system, record_id) for system, _, record_id in records} - self._own.keys()
            self._own.update(self.work.echoes.own_values(pairs, now))
        self._load_leads("hubspot_id", self._by_hubspot_id, hubspot_ids)
        self._load_leads("email", self._by_email, (email.lower() for email in emails if email))

    def _load_records(self, keys: Collection[RecordKey]) -> None:
        keys = [key for key in keys if key not in self._records]
        for key in keys:
            self._records[key] = None
        for system, object, record_id, version, fields, lead_id, hubspot_id, email in \
                self.work.leads.records_by_keys(keys):
            self._records[(system, object, record_id)] = _Record(self._lead(lead_id, hubspot_id, email), version,
                                                                 fields)

    def _load_leads(self, column: str, index: dict[str, LeadRef | None], values: Iterable[str]) -> None:
        wanted = {value for value in values if value and value not in index}
        for value in wanted:
            index[value] = None
        for lead_id, hubspot_id, email in self.work.leads.identities(column, wanted):
            index[hubspot_id if column == "hubspot_id" else email] = self._lead(lead_id, hubspot_id, email)

    def _lead(self, lead_id: int, hubspot_id: str | None, email: str | None) -> LeadRef:
        """The batch's LeadRef of a lead read from the database (the one it already has, if any)."""
        if lead_id not in self._leads:
            self._leads[lead_id] = LeadRef(lead_id, hubspot_id, email)
        return self._leads[lead_id]

    def _record(self, key: RecordKey) -> _Record | None:
        if key not in self._records:
            self._load_records([key])
        return self._records[key]

    def _lead_by(self, column: str, value: str) -> LeadRef | None:
        index = self._by_hubspot_id if column == "hubspot_id" else self._by_email
        if value not in index:
            self._load_leads(column, index, [value])
        return index[value]

    # -- lookups --------------------------------------------------------------------------------------
    def held(self, event_id: int) -> bool:
        """Whether this worker still holds the event's lease (else another worker took it over)."""
        return event_id in self._held

    def lead_of_record(self, system: str, object: str, record_id: str) -> LeadRef | None:
        """The lead a record of any system belongs to."""
        record = self._record((system, object, record_id))
        return record.lead if record else None

    def lead_of_system_record(self, system: str, record_id: str) -> LeadRef | None:
        """The lead of a record of `system` with this id, whatever its object (a Task's WhoId names a Lead or a
        Contact)."""
        for (known_system, _, known_id), record in self._records.items():
            if record is not None and (known_system, known_id) == (system, record_id):
                return record.lead
        found = self.work.sales.find_record(system, record_id)
        return None if found is None else self.lead_of_record(system, found["object"], record_id)

    def record_state(self, system: str, object: str, record_id: str) -> tuple[str | None, dict] | None:
        """The newest version seen of a record, and its fields as last read (None: not a lead's record)."""
        record = self._record((system, object, record_id))
        return None if record is None else (record.version, json.loads(record.fields) if record.fields else {})

    def all_own(self, system: str, record_id: str, fields: Mapping[str, Any], now: datetime) -> bool:
        """Whether every one of `fields` is a value this service wrote to the record recently (an echo)."""
        if (system, record_id) not in self._own:
            self._own.update(self.work.echoes.own_values([(system, record_id)], now))
        own = self._own[(system, record_id)]
        return bool(fields) and all((name, stored_text(value)) in own for name, value in fields.items())

    # -- writes (applied by `apply`) ----------------------------------------------------------------
    def touch(self, now: datetime, hubspot_id: str | None = None, email: str | None = None,
              refresh: bool = False) -> LeadRef:
        """The lead (created if new), queued for re-evaluation; as Leads.touch."""
        email = email.lower() if email else None
        lead = self._lead_by("hubspot_id", hubspot_id) if hubspot_id else None
        if lead is None and email:
            lead = self._lead_by("email", email)
        if lead is None:
            lead = LeadRef(None, hubspot_id, email)
            self._ops["new"].append((lead, now))
            if hubspot_id:
                self._put(self._by_hubspot_id, hubspot_id, lead)
            if email:
                self._put(self._by_email, email, lead)
        elif hubspot_id and lead.hubspot_id is None:  # the lead known by its address gets its contact's id
            self._set(lead, "hubspot_id", hubspot_id)
            self._put(self._by_hubspot_id, hubspot_id, lead)
        self._ops["touches"].append((lead, refresh, hubspot_id, now))
        if hubspot_id:
            self.link_record(lead, *HUBSPOT_CONTACTS, hubspot_id, now)
        return lead

    def link_record(self, lead: LeadRef, system: str, object: str, record_id: str, now: datetime) -> None:
        """The lead is `record_id` in `system` (a record linked to another lead moves to this one)."""
        key = (system, object, record_id)
        record = self._record(key)
        if record is not None and record.lead is lead:
            return  # linked already: nothing to write
        self._put(self._records, key, _Record(lead, record and record.version, record and record.fields))
        self._ops["links"].append((lead, system, object, record_id, now))

    def note_version(self, system: str, object: str, record_id: str, version: str | None, now: datetime) -> None:
        """The newest version of a lead's record seen in a change (an older one later is stale)."""
        record = self._record((system, object, record_id))
        if version is None or record is None or (record.version is not None and record.version >= version):
            return
        self._set(record, "version", version)
        self._ops["versions"].append((system, object, record_id, version, now))

    def mark_to_read(self, system: str, object: str, record_id: str, now: datetime) -> None:
        """A lead's sales record changed: read it again, in a batch, before telling its events."""
        self._ops["to_read"].append((system, object, record_id, now))

    def record_change(self, inbox_id: int, source: str, record_key: str, change_type: str, occurred_at: str,
                      fields_json: str, now: datetime, lead: LeadRef | None) -> None:
        """Keep the normalised change of an event, with the lead it is about when there is one."""
        self._ops["changes"].append((inbox_id, source, record_key, change_type, occurred_at, fields_json, now, lead))

    def add_activity(self, activity_id: str, lead: LeadRef, activity_type: str, occurred_at: str,
                     properties_json: str | None, inbox_id: int, now: datetime) -> None:
        """An activity joins the lead's ledger, once per id."""
        self._ops["activities"].append((activity_id, lead, activity_type, occurred_at, properties_json, inbox_id,
                                        now))

    def complete(self, event_id: int) -> None:
        """The event is done (when the batch is applied)."""
        self._ops["done"].append(event_id)

    # -- one event's part -----------------------------------------------------------------------------
    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo what the block did to the batch when it raises (the exception goes on)."""
        undo, ops = len(self._undo), {name: len(kept) for name, kept in self._ops.items()}
        try:
            yield
        except BaseException:
            while len(self._undo) > undo:
                self._undo.pop()()
            for name, length in ops.items():
                del self._ops[name][length:]
            raise

    def _put(self, mapping: MutableMapping, key: Any, value: Any) -> None:
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        self._undo.append(lambda: mapping.pop(key) if old is _MISSING else mapping.__setitem__(key, old))

    def _set(self, thing: Any, name: str, value: Any) -> None:
        old = getattr(thing, name)
        setattr(thing, name, value)
        self._undo.append(lambda: setattr(thing, name, old))

    # -- applying ---------------------------------------------------------------------------------------
    def apply(self, now: datetime) -> None:
        """Write everything the batch did, in the caller's transaction; the done events are finished at `now`.
        LeaseLost when an event was taken over meanwhile (it cannot be: the lease was checked in this
        transaction)."""
        work, ops = self.work, self._ops
        touches: dict[LeadRef, list] = {}
        for lead, refresh, hubspot_id, at in ops["touches"]:
            times, refreshed, first_id, first_at = touches.get(lead, (0, False, None, at))
            touches[lead] = (times + 1, refreshed or refresh, first_id or hubspot_id, first_at)
        for lead, at in ops["new"]:
            lead.id = work.leads.create(lead.hubspot_id, lead.email, touches.pop(lead)[0], at)
        work.leads.touch_many((lead.id, *touched) for lead, touched in touches.items())
        work.leads.link_records((lead.id, *rest) for lead, *rest in ops["links"])
        work.leads.note_versions(ops["versions"])
        work.sales.mark_many_to_read(ops["to_read"])
        work.changes.record_many((*rest, lead and lead.id) for *rest, lead in ops["changes"])
        work.leads.add_activities((activity_id, lead.id, *rest) for activity_id, lead, *rest in ops["activities"])
        done = ops["done"]
        if work.inbox.complete_many(done, self.owner, now) != len(done):
            raise LeaseLost(f"events of this batch are no longer leased by {self.owner}")
