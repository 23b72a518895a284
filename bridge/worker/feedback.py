"""The feedback stage: sales records that changed are read again in batches (webhooks are notifications), their
sales events told (bridge/feedback), kept on the lead's timeline, and queued to be written back to HubSpot."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import groupby

from bridge.feedback.events import SalesEvent, sales_events
from bridge.feedback.rules import REOPENING, FeedbackRules
from bridge.kernel.budget import spending
from bridge.kernel.clock import parse_iso
from bridge.kernel.errors import ConnectorError
from bridge.live import LiveMappings
from bridge.mapping.model import BRIDGE_PREFIX
from bridge.store import Store, Work
from bridge.store.echoes import stored_text
from bridge.worker.retry import RetryPolicy, next_step
from connectors.base import Connector

log = logging.getLogger(__name__)

READ_BATCH = 100  # HubSpot and kintone read 100 records per call
#: Systems that read more per call: a SOQL `Id IN (…)` takes 200 ids (connectors/salesforce.py READ_CHUNK), so a
#: burst of outbound messages costs half the reads it would in batches of 100.
READ_BATCHES = {"salesforce": 200}


class FeedbackStage:
    """Reads the changed records of one system (it runs in that system's lane: a slow system delays only itself)."""

    def __init__(self, store: Store, mappings: LiveMappings, connectors: Mapping[str, Connector], system: str,
                 clock: Callable[[], datetime], policy: RetryPolicy, lease_seconds: int = 120,
                 linger: timedelta = timedelta(seconds=0.3)):
        self.store, self.mappings, self.connectors, self.system, self.clock = store, mappings, connectors, system, clock
        self.policy, self.lease_seconds, self.linger = policy, lease_seconds, linger
        self.name = f"feedback:{system}"
        self.failures = 0  # reads failed in a row: the back-off grows while the system keeps failing

    def run_once(self) -> int:
        """Read one batch of changed sales records and apply what they say; return how many were taken."""
        rules = self.mappings.feedback
        if rules is None:
            return 0
        claimed = self.store.sales.claim_to_read(self.system, self.clock(), self.lease_seconds,
                                                 READ_BATCHES.get(self.system, READ_BATCH), self.linger)
        if not claimed:
            return 0
        for (system, object), group in groupby(sorted(claimed, key=_where), key=_where):
            self._apply(rules, system, object, list(group))
        return len(claimed)

    def _apply(self, rules: FeedbackRules, system: str, object: str, rows: list[dict]) -> None:
        connector = self.connectors.get(system)
        try:
            if connector is None or connector.api_problem():
                raise ConnectorError(system, f"cannot read {object}: the connector is not configured")
            with spending("feedback"):
                ids = [row["record_id"] for row in rows]
                current = connector.read(object, ids, feedback_fields(self.mappings, system, object))
        except ConnectorError as error:
            step = next_step(error, self.clock(), None, self.failures, self.policy)
            self.failures += step.failed
            when = step.at or self.clock() + self.policy.cap
            log.warning("reading %d %s %s record(s) failed, retry at %s: %s", len(rows), system, object, when, error)
            self.store.sales.release((row["id"] for row in rows), when)
            return
        self.failures = 0
        with self.store.unit_of_work() as work:
            now = self.clock()
            own = work.echoes.own_values(((system, row["record_id"]) for row in rows), now)
            for row in rows:
                record = current.get(row["record_id"])
                if record is None:  # deleted, or not readable with our permissions: nothing to tell
                    work.sales.gone(row["id"])
                    continue
                before = _known(_json(row["fields"]), record, own.get((system, row["record_id"]), set()))
                when = _time(rules, system, object, record, now)
                events = sales_events(rules, system, object, row["record_id"], before, record, when,
                                      since=parse_iso(row["linked_at"]) if row.get("linked_at") else None)
                for event in events:
                    self._record(work, row["lead_id"], event, now)
                work.sales.applied(row["id"], None, record, row["dirty_since"], now)
                if events:  # a write in flight for the lead is queued again once done (bridge/store/outbox.py)
                    work.outbox.enqueue(row["lead_id"], "feedback", "hubspot", now)

    def _record(self, work: Work, lead_id: int, event: SalesEvent, now: datetime) -> None:
        lead = work.leads.get(lead_id)
        work.sales.add_event(lead_id, lead["cycle"], event.kind, event.system, event.object, event.record_id,
                             event.occurred_at, event.reason, event.reason_value, event.details, now)
        for linked_object, linked_id in event.links:  # a conversion: follow the Contact and the Opportunity
            work.leads.link_record(lead_id, event.system, linked_object, linked_id, now)
            # Read it now: its own message may have come before the conversion was applied (then it found no
            # lead), and a deal won meanwhile must not go unheard.
            rules = self.mappings.feedback
            if rules is not None and rules.for_object(event.system, linked_object):
                work.sales.mark_to_read(event.system, linked_object, linked_id, now)
        if event.kind == "converted":
            work.sales.mark_converted(event.system, event.object, event.record_id)
        work.clocks.wake(lead_id, now)  # the lead's SLA clock hears it (a touch stops it, attempts count)
        log.info("lead %s: sales event %s from %s %s %s", lead_id, event.kind, event.system, event.object,
                 event.record_id)
        if event.kind in REOPENING and work.sales.reopen(lead_id, event.kind, event.reason, now):
            log.info("lead %s given back to marketing (%s): it may be handed off again", lead_id, event.kind)


def feedback_fields(mappings: LiveMappings, system: str, object: str) -> list[str]:
    """What to read of a sales record: what the feedback rules tell events by, the record's fields the routes write
    back (not the bridge.* values Bridge computes itself: the record has no such fields to read), and its owner."""
    rules, sla = mappings.feedback, mappings.sla
    routes = [route for route in mappings.targets() if (route.target.system, route.target.object) == (system, object)]
    routed = {field.target for route in routes for field in route.fields
              if field.writes_source() and field.target and not field.target.startswith(BRIDGE_PREFIX)}
    # The owner the SLA notices and to-dos name (sla.yaml owner_fields), read with the lead's record in that system.
    owner = {sla.owner_fields[system]} if routes and sla is not None and system in sla.owner_fields else set()
    return sorted({*(rules.fields(system, object) if rules else ()), *routed, *owner})


def events_of(rows: list[dict]) -> list[SalesEvent]:
    """Stored sales events as the feedback rules take them."""
    return [SalesEvent(row["kind"], row["system"], row["object"], row["record_id"], parse_iso(row["occurred_at"]),
                       row["reason"], row["reason_value"], _json(row["details"])) for row in rows]


def _known(before: Mapping, record: Mapping, own: set) -> dict:
    """The record as last applied, with the values Bridge wrote to it itself since then taken as known: a status
    Bridge set (sla.yaml's recycle: Status Recycled) is not something sales did, even when the record is read
    because of a rep's later edit or an echo not recognised as one (its snapshot names fields Bridge wrote
    longer ago than the echo memory keeps)."""
    return {**before, **{name: value for name, value in record.items()
                         if value != before.get(name) and (name, stored_text(value)) in own}}


def _where(row: dict) -> tuple[str, str]:
    return row["system"], row["object"]


def _json(text: str | None) -> dict:
    return json.loads(text) if text else {}


def _time(rules: FeedbackRules, system: str, object: str, record: Mapping, now: datetime) -> datetime:
    """When the record changed, as the system says (its time field), else when Bridge read it."""
    object_rules = rules.for_object(system, object)
    stamp = record.get(object_rules.time_field) if object_rules and object_rules.time_field else None
    try:
        return parse_iso(str(stamp)) if stamp else now
    except ValueError:
        return now
