"""What the worker does with each event, registered per (source, event type); `*` matches any type."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from bridge.handoff.rules import Rules
from bridge.store import ClaimedEvent, Store


@dataclass
class HandlerContext:
    """What handlers may use besides the transaction: the store, and the handoff rules in force."""

    store: Store
    rules: Callable[[], Rules | None] = lambda: None


Handler = Callable[[HandlerContext, Database, ClaimedEvent, datetime], None]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register(source: str, event_type: str = "*") -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        _HANDLERS[(source, event_type)] = handler
        return handler

    return add


def handler_for(source: str, event_type: str) -> Handler | None:
    return _HANDLERS.get((source, event_type)) or _HANDLERS.get((source, "*"))


def _change_of(source: str, event_type: str, payload: dict) -> tuple[str, dict]:
    """A source's payload reduced to (change type, changed fields)."""
    if source == "hubspot":
        kind = event_type.partition(".")[2] or event_type
        fields = {payload["propertyName"]: payload.get("propertyValue")} if payload.get("propertyName") else {}
        return kind, fields
    if source == "salesforce":
        return "snapshot", payload["record"]
    record = payload.get("record") or {}
    fields = {code: field.get("value") for code, field in record.items() if isinstance(field, dict)}
    return event_type.lower(), fields


@register("hubspot")
@register("salesforce")
@register("kintone")
def record_change(ctx: HandlerContext, db: Database, event: ClaimedEvent, now: datetime) -> None:
    """Default handling: keep a normalised change per record, in the same transaction that completes the event."""
    payload = json.loads(event.body)
    kind, fields = _change_of(event.source, event.event_type, payload)
    contact = event.source == "hubspot" and event.record_key.startswith("contact:")
    hubspot_id = event.record_key.partition(":")[2]
    if contact and kind == "propertyChange" and _is_echo(ctx.store, db, hubspot_id, payload, now):
        ctx.store.record_change(db, event.id, event.source, event.record_key, "echo", event.occurred_at,
                                json.dumps(fields, ensure_ascii=False), now)
        return
    ctx.store.record_change(db, event.id, event.source, event.record_key, kind, event.occurred_at,
                            json.dumps(fields, ensure_ascii=False), now)
    if contact and kind != "deletion":
        # Webhooks are notifications: the current contact is read later, in a batch, before evaluation.
        lead_id = ctx.store.touch_lead(db, now, hubspot_id=hubspot_id, refresh=True)
        activity = _property_activity(ctx.rules(), payload)
        if activity:
            ctx.store.add_activity(db, f"hubspot:{event.id}", lead_id, activity, event.occurred_at,
                                   json.dumps(fields, ensure_ascii=False), event.id, now)


def _is_echo(store: Store, db: Database, hubspot_id: str, payload: dict, now: datetime) -> bool:
    """A property change this service wrote itself (write-back): acting on it would start a loop."""
    value = payload.get("propertyValue")
    return store.is_own_write(db, "hubspot", hubspot_id, payload.get("propertyName", ""),
                              None if value is None else str(value), now)


def _property_activity(rules: Rules | None, payload: dict) -> str | None:
    """The activity type a HubSpot property change counts as (handoff.yaml property_activities), if any."""
    if rules is None or payload.get("propertyValue") in (None, ""):
        return None
    return dict(rules.property_activities).get(payload.get("propertyName", ""))


@register("activities")
def record_activity(ctx: HandlerContext, db: Database, event: ClaimedEvent, now: datetime) -> None:
    """An activity joins the lead's ledger (once per id) and the lead is queued for re-evaluation."""
    activity = json.loads(event.body)
    lead_id = ctx.store.touch_lead(db, now, hubspot_id=activity.get("hubspot_id"), email=activity.get("email"))
    properties = json.dumps(activity["properties"], ensure_ascii=False) if activity.get("properties") else None
    ctx.store.add_activity(db, activity["id"], lead_id, activity["type"], event.occurred_at, properties, event.id,
                           now)
