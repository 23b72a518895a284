"""POST /api/activities: marketing activity (website tag, webinar tool, HubSpot workflows) into the inbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from difflib import get_close_matches

from flask import Blueprint, current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.config import API_TOKENS
from bridge.kernel.errors import WebhookInvalid, WebhookUnauthorized
from bridge.web.api_auth import bearer_ok, unauthorized
from bridge.web.metrics import count_unknown_type
from bridge.web.webhooks import ingest
from connectors.base import (
    InboxEvent,
    WebhookReply,
    WebhookRequest,
    compact_json,
    event_time,
    load_schema,
    parse_json,
)

MAX_ACTIVITIES = 1000
bp = Blueprint("activities", __name__)


class ActivitySchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email()
    # \Z, not $ (which also matches before a final newline); [0-9], not \d (which matches any script's digits).
    hubspot_id = fields.String(validate=validate.Regexp(
        r"[0-9]{1,19}\Z", error="must be a HubSpot contact id (up to 19 digits)"))
    type = fields.String(required=True, validate=validate.Regexp(
        r"[a-z][a-z0-9_]{0,63}\Z", error="must be lower_snake_case, e.g. pricing_page_visit"))
    occurred_at = fields.AwareDateTime(required=True, format="iso", error_messages={
        "invalid": "must be an ISO 8601 date-time, e.g. 2026-11-21T10:00:00+09:00",
        "invalid_awareness": "needs a time zone, e.g. 2026-11-21T10:00:00+09:00 or ...Z"})
    properties = fields.Dict(keys=fields.String())

    @validates_schema
    def lead_key(self, data, **kwargs):
        if not data.get("email") and not data.get("hubspot_id"):
            raise ValidationError("give the lead as email or hubspot_id", "email")


_SCHEMA = ActivitySchema()


def lead_key(email: str | None, hubspot_id: str | None) -> str:
    """The inbox record key of a lead: the HubSpot id when known, else the lower-cased email."""
    return f"contact:{hubspot_id}" if hubspot_id else f"email:{email.lower()}"


class ActivitySource:
    """Speaks the webhook-source protocol of connectors.base, with bearer-token auth (BRIDGE_ACTIVITIES_TOKEN)."""

    name = "activities"

    def __init__(self, api_token: str | None, known_types: frozenset[str] | None = None):
        self.api_token = api_token
        self.known_types = known_types  # the types the handoff rules in force use; None: do not check

    def webhook_problem(self) -> str | None:
        return None if self.api_token else f"the activities API is not configured: set {API_TOKENS[self.name]}"

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        if not bearer_ok(request.headers.get("Authorization"), self.api_token):
            raise WebhookUnauthorized(unauthorized(self.name))

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, list) or not data:
            raise WebhookInvalid("body", "must be a JSON array of 1 to 1000 activities")
        if len(data) > MAX_ACTIVITIES:
            raise WebhookInvalid("body", f"holds {len(data)} activities; send at most {MAX_ACTIVITIES} per request")
        events = []
        for index, item in enumerate(data):
            activity = load_schema(_SCHEMA, item, f"[{index}]")
            occurred_at = event_time(activity["occurred_at"], f"[{index}].occurred_at")
            email = activity.get("email", "").lower() or None
            body = {**item, "email": email} if email else item
            events.append(InboxEvent(
                source=self.name, event_type=activity["type"], dedupe_key=activity["id"],
                record_key=lead_key(email, activity.get("hubspot_id")), occurred_at=occurred_at,
                body=compact_json(body),
            ))
        return events

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        answer: dict = {"accepted": len(events), "new": new}
        unknown = Counter(e.event_type for e in events if self.known_types is not None
                          and e.event_type not in self.known_types)
        if unknown:
            # Kept (the rules may learn the type later), but never silently: it scores nothing today.
            for activity_type, count in unknown.items():
                count_unknown_type(activity_type, count)
            answer["unknown_types"] = sorted(unknown)
            answer["warning"] = unknown_types_warning(sorted(unknown), self.known_types or frozenset())
        return WebhookReply(json.dumps(answer, ensure_ascii=False), status=202)


def unknown_types_warning(unknown: list[str], known: frozenset[str]) -> str:
    """What to do about activity types no rule uses, with the nearest known type for a likely typo."""
    guesses = [f"{t} (did you mean {close[0]}?)" if (close := get_close_matches(t, known, n=1)) else t
               for t in unknown]
    return (f"accepted and kept, but no rule in mappings/handoff.yaml scores these activity types, so they add "
            f"no points: {', '.join(guesses)}. Correct the type the sender uses, or add a behaviour rule for it "
            "in handoff.yaml (Bridge picks the change up without a restart).")


@bp.post("/api/activities")
def receive_activities():
    services = current_app.extensions["bridge"]
    return ingest("activities", ActivitySource(services.settings.api_tokens.get("activities"),
                                               services.activity_types()))
