"""Salesforce: Outbound Message (SOAP) webhook verification, parsing and the Ack envelope Salesforce expects."""

from __future__ import annotations

import hmac
import json
import xml.etree.ElementTree as ET  # noqa: S405 (DOCTYPEs are refused before parsing, see _parse_xml)
from datetime import datetime

from bridge.config import EnvReader
from bridge.errors import WebhookInvalid, WebhookUnauthorized
from connectors.base import Connector, InboxEvent, WebhookReply, WebhookRequest

# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100
# Anything but exactly this answer makes Salesforce resend the whole message for 24 hours.
ACK_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack>"
    "</notificationsResponse>"
    "</soapenv:Body>"
    "</soapenv:Envelope>"
)
# Fields that say when the record last changed, newest first; they order a record's notifications.
_TIMESTAMP_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _parse_xml(body: bytes) -> ET.Element:
    # SOAP forbids DTDs; refusing them rules out entity-expansion tricks.
    if b"<!DOCTYPE" in body[:4096].upper():
        raise WebhookInvalid("body", "contains a DOCTYPE, which SOAP messages may not have")
    try:
        return ET.fromstring(body)  # noqa: S314
    except ET.ParseError as error:
        raise WebhookInvalid("body", f"is not well-formed XML ({error})") from None


def org_id_matches(configured: str, received: str) -> bool:
    """Compare 15- and 18-character org ids: the first 15 characters are the id, the rest a checksum."""
    return len(received) in (15, 18) and hmac.compare_digest(configured[:15].encode(), received[:15].encode())


class SalesforceConnector(Connector):
    name = "salesforce"
    settings_help = {
        "SALESFORCE_ORG_ID": "your org id (15 or 18 characters); outbound messages from other orgs are refused",
        "SALESFORCE_WEBHOOK_TOKEN": "secret appended to the outbound message URL as ?token=…",
    }

    def __init__(self, org_id: str | None, webhook_token: str | None):
        self.org_id = org_id
        self.webhook_token = webhook_token

    @classmethod
    def from_env(cls, read: EnvReader) -> SalesforceConnector:
        org_id = read.text("SALESFORCE_ORG_ID")
        if org_id and (len(org_id) not in (15, 18) or not org_id.isalnum()):
            read.problems.append(
                f"SALESFORCE_ORG_ID={org_id!r} must be 15 or 18 letters and digits (Setup → Company Information)"
            )
        read.require_together("SALESFORCE_WEBHOOK_TOKEN", "SALESFORCE_ORG_ID")
        return cls(org_id=org_id, webhook_token=read.secret("SALESFORCE_WEBHOOK_TOKEN"))

    def webhook_problem(self) -> str | None:
        if not (self.webhook_token and self.org_id):
            return "Salesforce outbound messages are not configured: set SALESFORCE_WEBHOOK_TOKEN and SALESFORCE_ORG_ID"
        return None

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        token = request.query.get("token", "")
        if not hmac.compare_digest(token.encode(), (self.webhook_token or "").encode()):
            raise WebhookUnauthorized("missing or wrong ?token= in the outbound message URL")
        # The organisation id is inside the body: checked in parse_webhook, still as a 401.

    def parse_webhook(self, request: WebhookRequest, received_at: datetime) -> list[InboxEvent]:
        root = _parse_xml(request.body)
        notifications = next((e for e in root.iter() if _local(e.tag) == "notifications"), None)
        if notifications is None:
            raise WebhookInvalid("notifications", "missing: this is not a Salesforce outbound message")
        org = _child(notifications, "OrganizationId")
        if org is None or not (org.text or "").strip():
            raise WebhookInvalid("OrganizationId", "missing")
        if not org_id_matches(self.org_id or "", org.text.strip()):
            raise WebhookUnauthorized("OrganizationId does not match SALESFORCE_ORG_ID")
        action = _child(notifications, "ActionId")
        items = [c for c in notifications if _local(c.tag) == "Notification"]
        if not 1 <= len(items) <= MAX_NOTIFICATIONS:
            raise WebhookInvalid("Notification", f"{len(items)} notifications; Salesforce sends 1 to {MAX_NOTIFICATIONS}")
        events = []
        for index, item in enumerate(items):
            events.append(self._event(item, index, org.text.strip(), action, received_at))
        return events

    def _event(self, item: ET.Element, index: int, org_id: str, action: ET.Element | None, received_at: datetime):
        notification_id = (_child(item, "Id").text or "").strip() if _child(item, "Id") is not None else ""
        if not notification_id:
            raise WebhookInvalid(f"Notification[{index}].Id", "missing")
        sobject = _child(item, "sObject")
        if sobject is None:
            raise WebhookInvalid(f"Notification[{index}].sObject", "missing")
        sobject_type = sobject.get(f"{{{XSI_NS}}}type", "").rpartition(":")[2]
        if not sobject_type:
            raise WebhookInvalid(f"Notification[{index}].sObject", "has no xsi:type naming the object")
        record = {
            _local(f.tag): None if f.get(f"{{{XSI_NS}}}nil") == "true" else (f.text or "")
            for f in sobject
        }
        if not record.get("Id"):
            raise WebhookInvalid(f"Notification[{index}].sObject.Id", "missing")
        occurred_at = received_at
        for name in _TIMESTAMP_FIELDS:
            if record.get(name):
                try:
                    occurred_at = datetime.fromisoformat(record[name].replace("Z", "+00:00"))
                except ValueError:
                    raise WebhookInvalid(f"Notification[{index}].sObject.{name}", "is not an ISO date-time") from None
                break
        body = {
            "notificationId": notification_id,
            "organizationId": org_id,
            "actionId": action.text if action is not None else None,
            "sObjectType": sobject_type,
            "record": record,
        }
        return InboxEvent(
            source=self.name,
            event_type=f"{sobject_type}.outbound_message",
            dedupe_key=notification_id,
            record_key=f"{sobject_type}:{record['Id']}",
            occurred_at=occurred_at,
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        )

    def acknowledge(self, events: list[InboxEvent], new: int) -> WebhookReply:
        return WebhookReply(ACK_ENVELOPE, content_type="text/xml; charset=utf-8")
