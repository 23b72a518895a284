"""What the inbox stage does with each event: a connector's webhook becomes its normalised change (the connector
knows its own payloads), an activity joins its lead's ledger. No system is named here: a fourth connector works
the same way."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridge.feedback.events import lead_record_id
from bridge.feedback.rules import FeedbackRules
from bridge.handoff.rules import Rules
from bridge.kernel.clock import parse_iso
from bridge.store import ClaimedEvent, Store, Work
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


Handler = Callable[[HandlerContext, Work, ClaimedEvent, datetime], None]


def handler_for(context: HandlerContext, source: str) -> Handler | None:
    """Activities join a ledger; a connector's events become changes; anything else has no handler (an error
    that keeps the event, so it can be replayed once the connector is installed again)."""
    if source == "activities":
        return record_activity
    return record_change if source in context.connectors else None


def record_change(ctx: HandlerContext, work: Work, event: ClaimedEvent, now: datetime) -> None:
    """Keep the normalised change, in the unit of work that completes the event. A change equal to what Bridge
    wrote itself is an echo: kept, marked, and acted on no further (acting on it would start a loop)."""
    change = ctx.connectors[event.source].change_of(event.event_type, event.body, parse_iso(event.occurred_at))
    lead = work.leads.find_by_record(change.system, change.object, change.record_id) \
        or _lead_named(ctx, work, change, now)
    kind = _kind(work, change, now) if lead is not None or change.kind == "property" else change.kind
    change_id = work.changes.record(event.id, event.source, event.record_key, kind, event.occurred_at,
                                    json.dumps(change.fields, ensure_ascii=False), now, lead and lead["id"])
    if lead is not None and kind not in IGNORED:
        work.leads.note_version(change.system, change.object, change.record_id, change.version, now)
    if kind in IGNORED:
        return
    if (change.system, change.object) != MARKETING_RECORDS:
        if lead is not None and change.kind not in GONE:  # a sales record of a lead: read it, then tell its events
            work.sales.mark_to_read(change.system, change.object, change.record_id, now)
        return
    if change.kind in GONE:
        return
    # Webhooks are notifications: the current contact is read later, in a batch, before evaluation.
    lead_id = work.leads.touch(now, hubspot_id=change.record_id, refresh=True)
    work.changes.set_lead(change_id, lead_id)
    activity = _property_activity(ctx.rules(), change)
    if activity:
        work.leads.add_activity(f"{event.source}:{event.id}", lead_id, activity, event.occurred_at,
                                json.dumps(change.fields, ensure_ascii=False), event.id, now)


def _lead_named(ctx: HandlerContext, work: Work, change: Change, now: datetime) -> dict | None:
    """The lead a new record is about when it names one of the lead's records (a Task's WhoId): the record joins
    the lead's records, so its later changes find the lead directly."""
    rules = ctx.feedback()
    named = lead_record_id(rules, change.system, change.object, change.fields) if rules else None
    found = work.sales.find_record(change.system, named) if named else None
    if found is None:
        return None
    work.leads.link_record(found["lead_id"], change.system, change.object, change.record_id, now)
    return work.leads.get(found["lead_id"])


def _kind(work: Work, change: Change, now: datetime) -> str:
    """The change's kind, or `echo` (it only brings back what Bridge wrote) or `stale` (a newer change of the
    record was applied already: deliveries come out of order)."""
    if change.kind == "property":
        return "echo" if work.echoes.all_own(change.system, change.record_id, change.fields, now) else change.kind
    if not change.snapshot:
        return change.kind
    prior = work.leads.record_state(change.system, change.object, change.record_id)
    if prior is None:
        return change.kind
    version, fields = prior
    if version is not None and change.version is not None and change.version < version:
        return "stale"
    changed = {name: value for name, value in change.fields.items()
               if name not in change.bookkeeping and fields.get(name) != value}
    if fields and not changed:
        return "echo"  # nothing new: a redelivery, or the notification of a write that changed nothing
    return "echo" if work.echoes.all_own(change.system, change.record_id, changed, now) else change.kind


def _property_activity(rules: Rules | None, change: Change) -> str | None:
    """The activity type a property change counts as (handoff.yaml property_activities), if any."""
    if rules is None or change.kind != "property":
        return None
    counted = dict(rules.property_activities)
    return next((counted[name] for name, value in change.fields.items()
                 if name in counted and value not in (None, "")), None)


def record_activity(ctx: HandlerContext, work: Work, event: ClaimedEvent, now: datetime) -> None:
    """An activity joins the lead's ledger (once per id) and the lead is queued for re-evaluation."""
    activity = json.loads(event.body)
    lead_id = work.leads.touch(now, hubspot_id=activity.get("hubspot_id"), email=activity.get("email"))
    properties = json.dumps(activity["properties"], ensure_ascii=False) if activity.get("properties") else None
    work.leads.add_activity(activity["id"], lead_id, activity["type"], event.occurred_at, properties, event.id, now)
