"""What the inbox stage does with each event: a connector's webhook becomes its normalised change (the connector
knows its own payloads), an activity joins its lead's ledger. No system is named here: a fourth connector works
the same way. Handlers read and write through the batch (bridge/store/inbox_batch.py), which loads and writes a
whole batch of events in a few statements."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.feedback.events import lead_record_id
from bridge.feedback.rules import FeedbackRules
from bridge.handoff.rules import Rules
from bridge.kernel.clock import parse_iso
from bridge.store import ClaimedEvent, InboxBatch, LeadRef, Store
from bridge.store.leads import HUBSPOT_CONTACTS
from connectors.base import Change, Connector

#: Where a lead lives in the marketing system: a change there is read again and the lead re-evaluated.
MARKETING_RECORDS = HUBSPOT_CONTACTS
#: Kinds of change after which the marketing record is gone: nothing to read, nobody to evaluate.
GONE = frozenset({"deleted", "erased"})
#: Changes kept on the timeline but acted on no further.
IGNORED = frozenset({"echo", "stale"})


@dataclass
class HandlerContext:
    """What handlers may use besides the unit of work: the store, the connectors, the rules in force."""

    store: Store
    connectors: Mapping[str, Connector] = field(default_factory=dict)
    rules: Callable[[], Rules | None] = lambda: None
    feedback: Callable[[], FeedbackRules | None] = lambda: None


Handler = Callable[[HandlerContext, InboxBatch, ClaimedEvent, datetime], None]


def handler_for(context: HandlerContext, source: str) -> Handler | None:
    """Activities join a ledger; a connector's events become changes; anything else has no handler (an error
    that keeps the event, so it can be replayed once the connector is installed again)."""
    if source == "activities":
        return record_activity
    return record_change if source in context.connectors else None


def prefetch(ctx: HandlerContext, batch: InboxBatch, events: list[ClaimedEvent], now: datetime) -> None:
    """Load in a few queries what the handlers of `events` will look up: each record's lead and what Bridge wrote
    to it, the leads of marketing records and of activities. Told from the record keys (and activity bodies): a
    lookup it missed is made when the handler asks."""
    records, hubspot_ids, emails = set(), set(), set()
    for event in events:
        connector = ctx.connectors.get(event.source)
        if connector is not None:
            object, record_id = connector.parse_record_key(event.record_key)
            records.add((connector.name, object, record_id))
            if (connector.name, object) == MARKETING_RECORDS:
                hubspot_ids.add(record_id)
        elif event.source == "activities":
            try:
                activity = json.loads(event.body)
            except ValueError:  # its handler says what is wrong with it
                continue
            if isinstance(activity, dict):
                hubspot_ids.add(activity.get("hubspot_id"))
                emails.add(activity.get("email"))
    batch.prefetch(records, hubspot_ids, emails, now)


def record_change(ctx: HandlerContext, batch: InboxBatch, event: ClaimedEvent, now: datetime) -> None:
    """Keep the normalised change, in the unit of work that completes the event. A change equal to what Bridge
    wrote itself is an echo: kept, marked, and acted on no further (acting on it would start a loop)."""
    change = ctx.connectors[event.source].change_of(event.event_type, event.body, parse_iso(event.occurred_at))
    fields_json = json.dumps(change.fields, ensure_ascii=False)
    lead = batch.lead_of_record(change.system, change.object, change.record_id) \
        or _lead_named(ctx, batch, change, now)
    kind = _kind(batch, change, now) if lead is not None or change.kind == "property" else change.kind
    if kind not in IGNORED:
        lead = _act_on(ctx, batch, event, change, lead, fields_json, now)
    batch.record_change(event.id, event.source, event.record_key, kind, event.occurred_at, fields_json, now, lead)


def _act_on(ctx: HandlerContext, batch: InboxBatch, event: ClaimedEvent, change: Change, lead: LeadRef | None,
            fields_json: str, now: datetime) -> LeadRef | None:
    """What a change (not an echo, not stale) sets going; returns the lead it is about, if any."""
    if lead is not None:
        batch.note_version(change.system, change.object, change.record_id, change.version, now)
    if (change.system, change.object) != MARKETING_RECORDS:
        if lead is not None and change.kind not in GONE:  # a sales record of a lead: read it, then tell its events
            batch.mark_to_read(change.system, change.object, change.record_id, now)
        return lead
    if change.kind in GONE:
        return lead
    # Webhooks are notifications: the current contact is read later, in a batch, before evaluation.
    lead = batch.touch(now, hubspot_id=change.record_id, refresh=True)
    activity = _property_activity(ctx.rules(), change)
    if activity:
        batch.add_activity(f"{event.source}:{event.id}", lead, activity, event.occurred_at, fields_json, event.id,
                           now)
    return lead


def _lead_named(ctx: HandlerContext, batch: InboxBatch, change: Change, now: datetime) -> LeadRef | None:
    """The lead a new record is about when it names one of the lead's records (a Task's WhoId): the record joins
    the lead's records, so its later changes find the lead directly."""
    rules = ctx.feedback()
    named = lead_record_id(rules, change.system, change.object, change.fields) if rules else None
    lead = batch.lead_of_system_record(change.system, named) if named else None
    if lead is not None:
        batch.link_record(lead, change.system, change.object, change.record_id, now)
    return lead


def _kind(batch: InboxBatch, change: Change, now: datetime) -> str:
    """The change's kind, or `echo` (it only brings back what Bridge wrote) or `stale` (a newer change of the
    record was applied already: deliveries come out of order)."""
    if change.kind == "property":
        return "echo" if batch.all_own(change.system, change.record_id, change.fields, now) else change.kind
    if not change.snapshot:
        return change.kind
    prior = batch.record_state(change.system, change.object, change.record_id)
    if prior is None:
        return change.kind
    version, fields = prior
    if version is not None and change.version is not None and change.version < version:
        return "stale"
    changed = {name: value for name, value in change.fields.items()
               if name not in change.bookkeeping and fields.get(name) != value}
    if fields and not changed:
        return "echo"  # nothing new: a redelivery, or the notification of a write that changed nothing
    return "echo" if batch.all_own(change.system, change.record_id, changed, now) else change.kind


def _property_activity(rules: Rules | None, change: Change) -> str | None:
    """The activity type a property change counts as (handoff.yaml property_activities), if any."""
    if rules is None or change.kind != "property":
        return None
    counted = dict(rules.property_activities)
    return next((counted[name] for name, value in change.fields.items()
                 if name in counted and value not in (None, "")), None)


def record_activity(ctx: HandlerContext, batch: InboxBatch, event: ClaimedEvent, now: datetime) -> None:
    """An activity joins the lead's ledger (once per id) and the lead is queued for re-evaluation."""
    activity = json.loads(event.body)
    lead = batch.touch(now, hubspot_id=activity.get("hubspot_id"), email=activity.get("email"))
    properties = json.dumps(activity["properties"], ensure_ascii=False) if activity.get("properties") else None
    batch.add_activity(activity["id"], lead, activity["type"], event.occurred_at, properties, event.id, now)
