"""POST /api/activities: marketing activity (website tag, webinar tool, HubSpot workflows) into the inbox."""

from __future__ import annotations

import json
from datetime import datetime

from flask import Blueprint, current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from bridge.api_auth import UNAUTHORIZED, bearer_ok
from bridge.errors import WebhookInvalid, WebhookUnauthorized
from bridge.webhooks import ingest
from connectors.base import InboxEvent, WebhookReply, WebhookRequest, load_schema, parse_json

MAX_ACTIVITIES = 1000
bp = Blueprint("activities", __name__)


class ActivitySchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email()
    hubspot_id = fields.String(validate=validate.Regexp(r"^\d+$", error="must be a HubSpot contact id (digits)"))
    type = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,63}$", error="must be lower_snake_case, e.g. pricing_page_visit"))
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
    """Speaks the webhook-source protocol of connectors.base, with bearer-token auth."""

    name = "activities"

    def __init__(self, api_token: str | None):
        self.api_token = api_token

    def webhook_problem(self) -> str | None:
        return None if self.api_token else "the activities API is not configured: set BRIDGE_API_TOKEN"

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        if not bearer_ok(request.headers.get("Authorization"), self.api_token):
            raise WebhookUnauthorized(UNAUTHORIZED)

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, list) or not data:
            raise WebhookInvalid("body", "must be a JSON array of 1 to 1000 activities")
        if len(data) > MAX_ACTIVITIES:
            raise WebhookInvalid("body", f"holds {len(data)} activities; send at most {MAX_ACTIVITIES} per request")
        events = []
        for index, item in enumerate(data):
            activity = load_schema(_SCHEMA, item, f"[{index}]")
            email = activity.get("email", "").lower() or None
            body = {**item, "email": email} if email else item
            events.append(InboxEvent(
                source=self.name, event_type=activity["type"], dedupe_key=activity["id"],
                record_key=lead_key(email, activity.get("hubspot_id")), occurred_at=activity["occurred_at"],
                body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            ))
        return events

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        return WebhookReply(json.dumps({"accepted": len(events), "new": new}), status=202)


@bp.post("/api/activities")
def receive_activities():
    return ingest("activities", ActivitySource(current_app.extensions["bridge"].settings.api_token))
