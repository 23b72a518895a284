"""Salesforce outbound messages at /webhooks/salesforce."""

import pytest

from connectors.salesforce import ACK_ENVELOPE
from tests.helpers import outbound_message, post_salesforce

EXACT_ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def test_valid_message_gets_the_exact_ack_envelope(client, store):
    response = post_salesforce(client, outbound_message(("04l000000000001", "04l000000000002")))
    assert response.status_code == 200
    assert response.content_type.startswith("text/xml")
    assert response.get_data(as_text=True) == EXACT_ACK == ACK_ENVELOPE
    assert store.inbox.counts()["pending"] == 2


def test_duplicate_notification_ids_make_one_row(client, store):
    body = outbound_message(("04l000000000001",))
    assert post_salesforce(client, body).status_code == 200
    assert post_salesforce(client, body).status_code == 200  # still acknowledged, or Salesforce resends
    assert store.inbox.counts()["pending"] == 1


def test_wrong_token_is_401(client, store):
    response = post_salesforce(client, outbound_message(), token="wrong-token-0123456789")
    assert response.status_code == 401 and "token" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0


def test_missing_token_is_401(client):
    response = client.post("/webhooks/salesforce", data=outbound_message(), headers={"Content-Type": "text/xml"})
    assert response.status_code == 401


def test_other_org_is_401(client, store):
    response = post_salesforce(client, outbound_message(org_id="00D000000000001AAA"))
    assert response.status_code == 401 and "OrganizationId" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0 and store.ingest.rejected() == []


def test_fifteen_character_org_id_configured_accepts_eighteen_sent(make_settings):
    from bridge.app import create_app

    client = create_app(make_settings(SALESFORCE_ORG_ID="00D5g000004Z1xY")).test_client()
    assert post_salesforce(client, outbound_message()).status_code == 200


def test_notification_fields_are_parsed(client, store):
    import json

    post_salesforce(client, outbound_message(("04l000000000009",), lead_ids=["00Q5g0000099999"]))
    row = store.conn.db.execute("SELECT event_type, record_key, occurred_at, body FROM inbox").fetchone()
    assert row[:3] == ("Lead.outbound_message", "Lead:00Q5g0000099999", "2026-11-20T01:02:03.000Z")
    body = json.loads(row[3])
    assert body["record"]["Email"] == "taro@example.co.jp" and body["record"]["Description"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        (b"<not-closed>", "body"),
        (b"<x/>", "notifications"),
        (outbound_message().replace(b"<Id>04l5g000001AAAA</Id>", b""), "Notification[0].Id"),
        (outbound_message().replace(b' xsi:type="sf:Lead"', b""), "Notification[0].sObject"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>', "body"),
    ],
)
def test_malformed_messages_are_400_naming_the_field_and_kept(client, store, body, field):
    response = post_salesforce(client, body)
    assert response.status_code == 400
    assert response.json["error"].startswith(field)
    assert store.ingest.rejected()[0]["body"] == body


def test_more_than_100_notifications_is_400(client):
    ids = tuple(f"04l{i:012d}" for i in range(101))
    response = post_salesforce(client, outbound_message(ids))
    assert response.status_code == 400 and "101 notifications" in response.json["error"]


@pytest.mark.parametrize(
    "notification_id, lead_id, field",
    [
        ("04l5g000001AAAA", "００Q5g0000012345", "Notification[0].sObject.Id"),  # full-width digits
        ("04l5g000001AAAA", "00Q5g000001٢٣٤٥", "Notification[0].sObject.Id"),  # Arabic-Indic digits
        ("04l5g000001AAAA", "00Q5g00000 12345", "Notification[0].sObject.Id"),
        ("04l5g000001AAAA", "00Q5g0000012345678901", "Notification[0].sObject.Id"),  # longer than 18
        ("04l5g٠٠٠٠٠1AAAA", "00Q5g0000012345", "Notification[0].Id"),
        ("04l5g000001ＡＡＡＡ", "00Q5g0000012345", "Notification[0].Id"),
    ],
)
def test_ids_that_are_not_ascii_letters_and_digits_are_400_naming_the_field(client, store, notification_id, lead_id,
                                                                            field):
    body = outbound_message((notification_id,), lead_ids=[lead_id])
    response = post_salesforce(client, body)
    assert response.status_code == 400
    assert response.json["error"].startswith(field) and "ASCII letters and digits" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0
    assert store.ingest.rejected()[0]["body"] == body
