"""Salesforce outbound messages: record changes as SOAP notifications, one message per object, resent until Acked."""

from __future__ import annotations

import itertools
import threading
import xml.etree.ElementTree as ET  # noqa: S405 (parses our own listener's answer, never outside input)
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from xml.sax.saxutils import escape

import requests

from connectors.salesforce import OUTBOUND_NS
from connectors.sandbox import sfid
from connectors.sandbox.config import DeliveryConfig, SalesforceConfig
from connectors.sandbox.delivery import DeliveryLog, Dispatcher, Outcome, post

# https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
MAX_NOTIFICATIONS = 100
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
API_VERSION = "62.0"


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def envelope(
    org_id: str,
    action_id: str,
    instance_url: str,
    sobject: str,
    notifications: list[tuple[str, dict[str, Any]]],
    fields: list[str],
) -> bytes:
    """The SOAP message; fields that are null are left out, as Salesforce does."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{org_id}</OrganizationId>",
        f"<ActionId>{action_id}</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{API_VERSION}/{org_id[:15]}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(instance_url)}/services/Soap/u/{API_VERSION}/{org_id[:15]}</PartnerUrl>",
    ]
    for notification_id, record in notifications:
        parts.append(f"<Notification><Id>{notification_id}</Id>")
        parts.append(f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">')
        parts += [f"<sf:{name}>{_text(record[name])}</sf:{name}>" for name in fields if record.get(name) is not None]
        parts.append("</sObject></Notification>")
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "".join(parts).encode()


def acknowledged(response: requests.Response) -> bool:
    """Only HTTP 200 with <Ack>true</Ack> in notificationsResponse counts; all else is resent."""
    if response.status_code != 200:
        return False
    try:
        root = ET.fromstring(response.content)  # noqa: S314
    except ET.ParseError:
        return False
    ack = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notificationsResponse/{{{OUTBOUND_NS}}}Ack")
    return ack is not None and (ack.text or "").strip() == "true"


class OutboundMessages:
    """An outbound message per object named in `config.outbound_fields` (each with its own ActionId and fields, as
    each is a separate workflow action in Setup); they share the listener URL and one sender, and a message carries
    notifications of one object only."""

    def __init__(
        self,
        config: SalesforceConfig,
        delivery: DeliveryConfig,
        log: DeliveryLog,
        record: Callable[[str, str], dict[str, Any] | None],
        instance_url: Callable[[], str],
    ) -> None:
        self._config = config
        self._delivery = delivery
        self._record = record
        self._instance_url = instance_url
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._session = requests.Session()
        self.dispatcher = Dispatcher(
            "salesforce", self._deliver, delivery, log, max_batch=MAX_NOTIFICATIONS, group=lambda item: item[0]
        )

    def action_id(self, sobject: str) -> str:
        """The outbound message's id (04k…): one per object, in the order the configuration names them."""
        return sfid.make_id(sfid.OUTBOUND_ACTION, list(self._config.outbound_fields).index(sobject) + 1)

    def on_changes(self, sobject: str, record_ids: list[str]) -> None:
        if not self._config.outbound_url or sobject not in self._config.outbound_fields:
            return
        for record_id in record_ids:
            with self._lock:
                notification_id = sfid.make_id(sfid.NOTIFICATION, next(self._numbers))
            self.dispatcher.put((sobject, notification_id, record_id))

    def _deliver(self, batch: list[tuple[str, str, str]], attempt: int) -> Outcome:
        sobject = batch[0][0]  # the dispatcher batches one object's notifications together
        # Each notification carries the record as it is when sent, not as it was when it changed.
        notifications = [(n, record) for _, n, record_id in batch if (record := self._record(sobject, record_id))]
        fields = self._config.outbound_fields.get(sobject, [])
        body = envelope(
            self._config.org_id, self.action_id(sobject), self._instance_url(), sobject, notifications, fields
        )
        url = self._config.outbound_url or ""
        if not url:
            return Outcome(url, body.decode(), ok=False, error="no outbound_url configured")
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        return post(self._session, url, body, headers, self._delivery.timeout, acknowledged)
