"""kintone: token-checked webhook parsing (kintone does not sign its webhooks) with an app allowlist."""

from __future__ import annotations

import hmac
import json
from datetime import datetime

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from bridge.config import EnvReader
from bridge.errors import WebhookForbidden, WebhookInvalid, WebhookUnauthorized
from connectors.base import Connector, InboxEvent, WebhookRequest, load_schema, parse_json

# https://jp.cybozu.help/k/ja/app/process/set_webhook/webhook_notification.html
EVENT_TYPES = ("ADD_RECORD", "UPDATE_RECORD", "DELETE_RECORD", "UPDATE_STATUS", "ADD_RECORD_COMMENT")
_WITH_RECORD = ("ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS")


class AppSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Regexp(r"^\d+$", error="must be a numeric app id"))
    name = fields.String(allow_none=True)


class NotificationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1))
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    app = fields.Nested(AppSchema, required=True)
    record = fields.Dict(keys=fields.String())
    recordId = fields.String()  # noqa: N815 (kintone's field name)
    recordTitle = fields.String(allow_none=True)  # noqa: N815
    url = fields.String(allow_none=True)

    @validates_schema
    def check_record(self, data, **kwargs):
        if data["type"] in _WITH_RECORD:
            record = data.get("record")
            if record is None:
                raise ValidationError(f"required for {data['type']}", "record")
            if not isinstance(record.get("$id"), dict) or not str(record["$id"].get("value", "")).isdigit():
                raise ValidationError("missing or not a record id", "record.$id")
        elif not str(data.get("recordId", "")).isdigit():
            raise ValidationError(f"required for {data['type']} and must be a record id", "recordId")


_SCHEMA = NotificationSchema()


def _field_value(record: dict, field_type: str) -> str | None:
    return next((f.get("value") for f in record.values() if isinstance(f, dict) and f.get("type") == field_type), None)


class KintoneConnector(Connector):
    name = "kintone"
    settings_help = {
        "KINTONE_WEBHOOK_TOKEN": "secret appended to the webhook URL as ?token=… (kintone does not sign webhooks)",
        "KINTONE_APP_IDS": "comma-separated app ids whose webhooks are accepted",
    }

    def __init__(self, webhook_token: str | None, app_ids: frozenset[str]):
        self.webhook_token = webhook_token
        self.app_ids = app_ids

    @classmethod
    def from_env(cls, read: EnvReader) -> KintoneConnector:
        read.require_together("KINTONE_WEBHOOK_TOKEN", "KINTONE_APP_IDS")
        return cls(webhook_token=read.secret("KINTONE_WEBHOOK_TOKEN"), app_ids=read.id_list("KINTONE_APP_IDS"))

    def webhook_problem(self) -> str | None:
        if not (self.webhook_token and self.app_ids):
            return "kintone webhooks are not configured: set KINTONE_WEBHOOK_TOKEN and KINTONE_APP_IDS"
        return None

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        token = request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), (self.webhook_token or "").encode()):
            raise WebhookUnauthorized("missing or wrong ?token= in the kintone webhook URL")

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        data = parse_json(request.body)
        if not isinstance(data, dict):
            raise WebhookInvalid("body", "must be a JSON object")
        app_id = str((data.get("app") or {}).get("id", "")) if isinstance(data.get("app"), dict) else ""
        if app_id and app_id not in self.app_ids:
            raise WebhookForbidden(f"app {app_id} is not in KINTONE_APP_IDS; add it there to accept its webhooks")
        note = load_schema(_SCHEMA, data, "")
        record = note.get("record") or {}
        record_id = record["$id"]["value"] if record else note["recordId"]
        # Order a record's notifications by its update time when the payload has one.
        stamp = _field_value(record, "UPDATED_TIME") or data.get("deletedAt")
        occurred_at = received_at
        if stamp:
            try:
                occurred_at = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError:
                raise WebhookInvalid("record.UPDATED_TIME", "is not an ISO date-time") from None
        return [
            InboxEvent(
                source=self.name,
                event_type=note["type"],
                dedupe_key=note["id"],
                record_key=f"app{app_id}:{record_id}",
                occurred_at=occurred_at,
                body=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
            )
        ]
