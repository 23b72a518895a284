"""Builders for signed, real-shaped deliveries used across the ingest tests."""

from __future__ import annotations

import io
import json

from connectors.hubspot import sign_v3
from tests.conftest import HUBSPOT_SECRET, KINTONE_TOKEN, SF_ORG, SF_TOKEN


def hubspot_event(event_id: int = 1, object_id: int = 123, **extra) -> dict:
    event = {
        "eventId": event_id, "subscriptionId": 12345, "portalId": 62515, "appId": 54321,
        "occurredAt": 1764000000000 + event_id, "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0, "objectId": object_id, "changeSource": "CRM",
        "propertyName": "email", "propertyValue": f"lead{object_id}@example.co.jp",
    }
    event.update(extra)
    return event


def post_hubspot(client, events, *, secret=HUBSPOT_SECRET, url="http://localhost/webhooks/hubspot",
                 timestamp: int | None = None, body: bytes | None = None):
    body = json.dumps(events).encode() if body is None else body
    if timestamp is None:  # signed at the app's own "now", so a fixed test clock verifies
        timestamp = int(client.application.extensions["bridge"].clock().timestamp() * 1000)
    ts = str(timestamp)
    headers = {
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, ts),
        "X-HubSpot-Request-Timestamp": ts,
        "Content-Type": "application/json",
    }
    path = url.split("localhost", 1)[1] if "localhost" in url else "/webhooks/hubspot"
    return client.post(path, data=body, headers=headers)


def outbound_message(notification_ids=("04l5g000001AAAA",), org_id: str = SF_ORG, lead_ids=None) -> bytes:
    lead_ids = lead_ids or [f"00Q5g00000{i:07d}" for i in range(len(notification_ids))]
    notes = "".join(
        f"<Notification><Id>{nid}</Id>"
        f'<sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{lid}</sf:Id><sf:Email>taro@example.co.jp</sf:Email><sf:Status>Working - Contacted</sf:Status>"
        f'<sf:Description xsi:nil="true"/><sf:SystemModstamp>2026-11-20T01:02:03.000Z</sf:SystemModstamp>'
        f"</sObject></Notification>"
        for nid, lid in zip(notification_ids, lead_ids, strict=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k5g000000AAAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/00D5g000004Z1xY</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/00D5g000004Z1xY</PartnerUrl>"
        f"{notes}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def post_salesforce(client, body: bytes, token: str = SF_TOKEN):
    return client.post(f"/webhooks/salesforce?token={token}", data=body,
                       headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})


def kintone_notification(notification_id="01234567-0123-0123-0123-0123456789ab", app_id="7", record_id="2",
                         kind="UPDATE_RECORD") -> dict:
    return {
        "id": notification_id,
        "type": kind,
        "app": {"id": app_id, "name": "リード管理"},
        "record": {
            "$id": {"type": "__ID__", "value": record_id},
            "$revision": {"type": "__REVISION__", "value": "3"},
            "会社名": {"type": "SINGLE_LINE_TEXT", "value": "株式会社サンプル"},
            "更新日時": {"type": "UPDATED_TIME", "value": "2026-11-20T01:02:00Z"},
        },
        "recordTitle": "株式会社サンプル",
        "url": f"https://example.cybozu.com/k/{app_id}/show#record={record_id}",
    }


def post_kintone(client, payload, token: str | None = KINTONE_TOKEN):
    query = f"?token={token}" if token is not None else ""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return client.post(f"/webhooks/kintone{query}", data=body, headers={"Content-Type": "application/json"})


def open_chunked(client, method: str, url: str, body: bytes, headers: dict[str, str]):
    """`body` as a WSGI server hands over a chunked request: no length (chunked wins over the Content-Length the test
    client always adds), and a stream the server ends."""
    return client.open(url, method=method, input_stream=io.BytesIO(body), headers=headers,
                       environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})


def make_worker(app, clock=None, connectors=None, drain: bool = True, owner: str = "test-worker",
                lanes: str | None = None):
    """The worker over the app's store and connectors (or `connectors`), on the app's clock (or `clock`);
    `drain`: partial batches go at once instead of lingering."""
    from bridge.worker.run import Worker

    services = app.extensions["bridge"]
    return Worker(services.settings, services.store, services.connectors if connectors is None else connectors,
                  clock or services.clock, owner=owner, drain=drain, lanes=lanes)
