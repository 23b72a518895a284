"""What the worker does with each event, registered per (source, event type); `*` matches any type."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database

from bridge.store import ClaimedEvent, Store

Handler = Callable[[Store, Database, ClaimedEvent, datetime], None]
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
def record_change(store: Store, db: Database, event: ClaimedEvent, now: datetime) -> None:
    """Default handling: keep a normalised change per record, in the same transaction that completes the event."""
    kind, fields = _change_of(event.source, event.event_type, json.loads(event.body))
    store.record_change(db, event.id, event.source, event.record_key, kind, event.occurred_at,
                        json.dumps(fields, ensure_ascii=False), now)
    if event.source == "hubspot" and event.record_key.startswith("contact:"):
        # Webhooks are notifications: the current contact is read later, in a batch, before evaluation.
        store.touch_lead(db, now, hubspot_id=event.record_key.partition(":")[2])


@register("activities")
def record_activity(store: Store, db: Database, event: ClaimedEvent, now: datetime) -> None:
    """An activity joins the lead's ledger (once per id) and the lead is queued for re-evaluation."""
    activity = json.loads(event.body)
    lead_id = store.touch_lead(db, now, hubspot_id=activity.get("hubspot_id"), email=activity.get("email"))
    properties = json.dumps(activity["properties"], ensure_ascii=False) if activity.get("properties") else None
    store.add_activity(db, activity["id"], lead_id, activity["type"], event.occurred_at, properties, event.id, now)
