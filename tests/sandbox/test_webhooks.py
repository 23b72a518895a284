"""Webhooks the sandbox sends, received over loopback and read with Bridge's own connectors."""

from __future__ import annotations

import json

from bridge.kernel.clock import utcnow
from connectors.base import WebhookRequest
from connectors.hubspot import HubSpotConnector, sign_v3
from connectors.kintone import KintoneConnector
from connectors.salesforce import ACK_ENVELOPE, SalesforceConnector
from tests.sandbox.conftest import KINTONE_TOKEN, SF_TOKEN


def as_request(received) -> WebhookRequest:
    return WebhookRequest("POST", received.url, received.headers, received.query, received.body)


def test_hubspot_deliveries_are_signed_v3_event_arrays(wired, hubspot, receiver):
    inputs = [
        {"id": f"p{i}@example.com", "idProperty": "email", "properties": {"firstname": f"F{i}"}} for i in range(3)
    ]
    hubspot.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs})
    assert wired.flush()
    deliveries = receiver.wait(1)
    delivery = deliveries[0]
    timestamp = delivery.headers["X-HubSpot-Request-Timestamp"]
    expected = sign_v3(wired.config.hubspot.client_secret, "POST", delivery.url, delivery.body, timestamp)
    assert delivery.headers["X-HubSpot-Signature-v3"] == expected
    assert delivery.url == f"{receiver.url}/webhooks/hubspot"

    connector = HubSpotConnector(wired.config.hubspot.client_secret)
    connector.verify_webhook(as_request(delivery), utcnow())
    events = [e for d in deliveries for e in connector.parse_webhook(as_request(d), utcnow())]
    kinds = sorted(e.event_type for e in events)
    assert kinds == ["contact.creation"] * 3 + ["contact.propertyChange"] * 6  # email + firstname each
    first = json.loads(delivery.body)[0]
    assert first["subscriptionType"] == "contact.creation"
    assert first["changeSource"] == "API"  # our own API writes come back: Bridge must drop echoes
    assert first["attemptNumber"] == 0
    assert first["portalId"] == wired.config.hubspot.portal_id
    assert isinstance(first["objectId"], int)
    assert isinstance(first["occurredAt"], int)


def test_hubspot_ui_changes_send_property_changes_from_the_crm_only_when_values_change(wired, control, receiver):
    contact_id = control.post(
        "/hubspot/contacts", json={"webhooks": False, "records": [{"email": "a@example.com"}]}
    ).json()["ids"][0]
    control.patch(f"/hubspot/contacts/{contact_id}", json={"properties": {"jobtitle": "部長"}})
    control.patch(f"/hubspot/contacts/{contact_id}", json={"properties": {"jobtitle": "部長"}})
    assert wired.flush()
    events = [e for d in receiver.wait(1) for e in json.loads(d.body)]
    assert len(events) == 1
    assert events[0]["subscriptionType"] == "contact.propertyChange"
    assert events[0]["propertyName"] == "jobtitle"
    assert events[0]["propertyValue"] == "部長"
    assert events[0]["changeSource"] == "CRM"
    assert events[0]["objectId"] == int(contact_id)


def test_hubspot_retries_a_refused_delivery_with_the_next_attempt_number(wired, control, receiver):
    receiver.reply(500)
    control.post("/hubspot/contacts", json={"records": [{"email": "a@example.com"}]})
    assert wired.flush()
    first, second = receiver.wait(2)
    before, after = json.loads(first.body), json.loads(second.body)
    assert [e["eventId"] for e in before] == [e["eventId"] for e in after]
    assert {e["attemptNumber"] for e in after} == {1}
    HubSpotConnector(wired.config.hubspot.client_secret).verify_webhook(as_request(second), utcnow())


def test_hubspot_puts_at_most_100_events_in_a_delivery(wired, control, receiver):
    control.patch("/config", json={"hubspot": {"subscribed_properties": []}})  # creations only
    control.post("/hubspot/contacts", json={"records": [{"email": f"p{i}@example.com"} for i in range(150)]})
    assert wired.flush()
    sizes = [len(json.loads(d.body)) for d in receiver.wait(2)]
    assert sum(sizes) == 150
    assert max(sizes) == 100


def test_salesforce_outbound_messages_are_resent_until_acknowledged(wired, salesforce, receiver):
    receiver.reply(200, "{}")  # a 200 without the Ack envelope is a failure too
    salesforce.patch(
        "/composite/sobjects/Lead/HubSpot_Contact_Id__c",
        json={
            "records": [
                {
                    "attributes": {"type": "Lead"},
                    "HubSpot_Contact_Id__c": "1001",
                    "LastName": "山田",
                    "Company": "ACME",
                },
            ]
        },
    )
    receiver.default = (200, ACK_ENVELOPE, "text/xml")
    assert wired.flush()
    first, second = receiver.wait(2)
    assert first.body == second.body
    assert second.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert second.query == {"token": SF_TOKEN}
    connector = SalesforceConnector(wired.config.salesforce.org_id, SF_TOKEN)
    connector.verify_webhook(as_request(second), utcnow())
    [event] = connector.parse_webhook(as_request(second), utcnow())
    body = json.loads(event.body)
    assert body["sObjectType"] == "Lead"
    assert len(body["notificationId"]) == 18
    assert body["record"]["LastName"] == "山田"
    assert body["record"]["HubSpot_Contact_Id__c"] == "1001"
    assert event.occurred_at.isoformat().startswith("2026-01-05T00:00:00")
    assert [e["ok"] for e in wired.deliveries.entries("salesforce")] == [False, True]


def test_kintone_sends_webhooks_for_single_record_changes_only(wired, kintone, control, receiver):
    kintone.put(
        "/records.json",
        json={
            "app": 1,
            "upsert": True,
            "records": [
                {"updateKey": {"field": "hubspot_contact_id", "value": "1001"}, "record": {"company": {"value": "A"}}},
            ],
        },
    )
    kintone.post("/records.json", json={"app": 1, "records": [{"company": {"value": "B"}}]})
    assert wired.flush()
    assert receiver.received == []  # multi-record REST writes send nothing

    control.post("/kintone/apps/1/records", json={"records": [{"company": "株式会社テスト"}]})
    kintone.put("/record.json", json={"app": 1, "id": 1, "record": {"score": {"value": 50}}})
    assert wired.flush()
    added, updated = receiver.wait(2)
    connector = KintoneConnector(KINTONE_TOKEN, frozenset({"1"}))
    connector.verify_webhook(as_request(added), utcnow())
    [event] = connector.parse_webhook(as_request(added), utcnow())
    assert event.event_type == "ADD_RECORD"
    payload = json.loads(added.body)
    assert payload["app"] == {"id": "1", "name": "リード管理"}
    assert payload["recordTitle"] == "株式会社テスト"
    assert payload["url"] == f"{wired.kintone_url}/k/1/show#record=3"
    assert payload["record"]["$id"] == {"type": "__ID__", "value": "3"}
    assert json.loads(updated.body)["type"] == "UPDATE_RECORD"
    assert json.loads(updated.body)["record"]["score"]["value"] == "50"


def test_kintone_does_not_retry_a_refused_webhook(wired, control, receiver):
    receiver.reply(500)
    control.post("/kintone/apps/1/records", json={"records": [{"company": "A"}]})
    assert wired.flush()
    assert len(receiver.wait(1)) == 1
    assert [e["status"] for e in wired.deliveries.entries("kintone")] == [500]


def test_seeding_with_webhooks_off_notifies_nobody(wired, control, receiver):
    control.post("/hubspot/contacts", json={"webhooks": False, "records": [{"email": "a@example.com"}]})
    control.post("/salesforce/leads", json={"webhooks": False, "records": [{"LastName": "A", "Company": "C"}]})
    control.post("/kintone/apps/1/records", json={"webhooks": False, "records": [{"company": "A"}]})
    assert wired.flush()
    assert receiver.received == []


def test_kintone_notifies_at_most_60_changes_a_minute_and_logs_the_rest_as_not_sent(wired, control, receiver, clock):
    records = [{"company": f"会社{i}"} for i in range(65)]
    control.post("/kintone/apps/1/records", json={"records": records})  # 65 ADD_RECORD in the same minute
    assert wired.flush()
    assert len(receiver.wait(60)) == 60
    dropped = [e for e in wired.deliveries.entries("kintone") if not e["ok"]]
    assert len(dropped) == 5 and "over 60 notifications" in dropped[0]["error"]
    clock.advance(minutes=1)  # a new minute: room again
    control.post("/kintone/apps/1/records", json={"records": [{"company": "次の分"}]})
    assert wired.flush()
    assert json.loads(receiver.wait(61)[-1].body)["recordTitle"] == "次の分"


def test_without_the_limit_every_change_is_notified(wired, control, receiver):
    wired.config.kintone.webhooks_per_minute = None
    control.post("/kintone/apps/1/records", json={"records": [{"company": f"会社{i}"} for i in range(65)]})
    assert wired.flush()
    assert len(receiver.wait(65)) == 65
