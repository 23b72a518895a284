"""HubSpot: signature-v3 webhook verification and parsing of contact event arrays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime

from marshmallow import INCLUDE, Schema, fields, validate

from bridge.config import EnvReader
from bridge.errors import WebhookInvalid, WebhookUnauthorized
from connectors.base import Connector, InboxEvent, WebhookRequest, from_epoch_ms, load_schema, parse_json

# https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation
MAX_TIMESTAMP_SKEW_MS = 5 * 60 * 1000
MAX_EVENTS_PER_DELIVERY = 100
# v3 signs the URI with exactly these percent-escapes decoded; every other escape stays as sent.
_DECODED_ESCAPES = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED_ESCAPES), re.IGNORECASE)


def signed_uri(uri: str) -> str:
    """The URI as HubSpot hashes it: only the listed escapes decoded."""
    return _ESCAPE.sub(lambda m: _DECODED_ESCAPES[m.group(0).upper()], uri)


def sign_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 over method + URI + body + timestamp, keyed with the app's client secret."""
    message = (method.upper() + signed_uri(uri)).encode() + body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class EventSchema(Schema):
    """One element of a webhook array; fields HubSpot adds later are kept as they are."""

    class Meta:
        unknown = INCLUDE

    eventId = fields.Integer(required=True)  # noqa: N815 (HubSpot's field names)
    subscriptionId = fields.Integer(required=True)  # noqa: N815
    portalId = fields.Integer(required=True)  # noqa: N815
    occurredAt = fields.Integer(required=True, validate=validate.Range(min=0))  # noqa: N815
    subscriptionType = fields.String(required=True, validate=validate.Length(min=1))  # noqa: N815
    objectId = fields.Integer(required=True)  # noqa: N815
    attemptNumber = fields.Integer()  # noqa: N815
    propertyName = fields.String(allow_none=True)  # noqa: N815
    propertyValue = fields.Raw(allow_none=True)  # noqa: N815
    changeSource = fields.String(allow_none=True)  # noqa: N815


_EVENT_SCHEMA = EventSchema()


class HubSpotConnector(Connector):
    name = "hubspot"
    settings_help = {
        "HUBSPOT_CLIENT_SECRET": "the app's client secret; signs webhook deliveries (signature v3)",
        "HUBSPOT_WEBHOOK_URL": "the public URL HubSpot calls, when a proxy changes the URL the service sees",
    }

    def __init__(self, client_secret: str | None, webhook_url: str | None = None):
        self.client_secret = client_secret
        self.webhook_url = webhook_url

    @classmethod
    def from_env(cls, read: EnvReader) -> HubSpotConnector:
        return cls(client_secret=read.text("HUBSPOT_CLIENT_SECRET"), webhook_url=read.url("HUBSPOT_WEBHOOK_URL"))

    def webhook_problem(self) -> str | None:
        if not self.client_secret:
            return "HubSpot webhooks are not configured: set HUBSPOT_CLIENT_SECRET to the app's client secret"
        return None

    def public_uri(self, request: WebhookRequest) -> str:
        """The URL HubSpot called: HUBSPOT_WEBHOOK_URL when set (a proxy rewrites the URL we see), plus the query."""
        if not self.webhook_url:
            return request.url
        query = request.url.partition("?")[2]
        if query and "?" not in self.webhook_url:
            return f"{self.webhook_url}?{query}"
        return self.webhook_url

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        signature = request.headers.get("X-HubSpot-Signature-v3")
        timestamp = request.headers.get("X-HubSpot-Request-Timestamp", "")
        if not signature or not timestamp:
            raise WebhookUnauthorized(
                "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp: only signature v3 is accepted"
            )
        if not timestamp.isdigit():
            raise WebhookUnauthorized("X-HubSpot-Request-Timestamp is not epoch milliseconds")
        skew = int(now.timestamp() * 1000) - int(timestamp)
        if abs(skew) > MAX_TIMESTAMP_SKEW_MS:
            direction = "old" if skew > 0 else "in the future"
            raise WebhookUnauthorized(
                f"X-HubSpot-Request-Timestamp is {abs(skew) // 1000} s {direction} (limit 300 s); check the server clock"
            )
        expected = sign_v3(self.client_secret or "", request.method, self.public_uri(request), request.body, timestamp)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookUnauthorized(
                "signature does not match: check HUBSPOT_CLIENT_SECRET, and HUBSPOT_WEBHOOK_URL when behind a proxy"
            )

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, list):
            raise WebhookInvalid("body", "must be a JSON array of events")
        if not 1 <= len(data) <= MAX_EVENTS_PER_DELIVERY:
            raise WebhookInvalid("body", f"holds {len(data)} events; HubSpot sends 1 to {MAX_EVENTS_PER_DELIVERY}")
        events = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise WebhookInvalid(f"[{index}]", "must be a JSON object")
            event = load_schema(_EVENT_SCHEMA, item, f"[{index}]")
            # eventId alone is not unique: https://developers.hubspot.com/docs/api/webhooks
            key = ":".join(
                str(event.get(k) or "")
                for k in ("subscriptionId", "eventId", "objectId", "occurredAt", "propertyName")
            )
            object_type = event["subscriptionType"].partition(".")[0]
            events.append(
                InboxEvent(
                    source=self.name,
                    event_type=event["subscriptionType"],
                    dedupe_key=key,
                    record_key=f"{object_type}:{event['objectId']}",
                    occurred_at=from_epoch_ms(event["occurredAt"]),
                    body=json.dumps(item, ensure_ascii=False, separators=(",", ":")),
                )
            )
        return events
