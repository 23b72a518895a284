"""A record read by a catch-up poll becomes the inbox event its webhook would have made: `change_of` reads both the
same way (fields, version, what is bookkeeping), and a second poll of the same version makes the same dedupe key.
HTTP mocked with `responses`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.kernel.env import EnvReader
from connectors.base import WebhookRequest
from connectors.hubspot import HubSpotConnector
from connectors.kintone import KintoneConnector
from connectors.salesforce import SalesforceConnector
from tests.helpers import outbound_message

KINTONE = "https://example.cybozu.com"
KINTONE_ENV = {"KINTONE_BASE_URL": KINTONE, "KINTONE_API_TOKEN": "kintone-api-token-AAAA", "KINTONE_APP_ID": "7",
               "KINTONE_WEBHOOK_TOKEN": "kintone-webhook-token-0123", "KINTONE_APP_IDS": "7"}
INSTANCE = "https://acme.my.salesforce.com"
SF_ENV = {"SALESFORCE_CLIENT_ID": "3MVG9-consumer-key", "SALESFORCE_CLIENT_SECRET": "consumer-secret-0123456789",
          "SALESFORCE_LOGIN_URL": INSTANCE, "SALESFORCE_ORG_ID": "00D5g000004Z1xYEAS",
          "SALESFORCE_WEBHOOK_TOKEN": "outbound-token-0123456789"}
SINCE = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
FORM = {"properties": {
    "レコード番号": {"type": "RECORD_NUMBER", "code": "レコード番号"},
    "更新日時": {"type": "UPDATED_TIME", "code": "更新日時"},
    "更新者": {"type": "MODIFIER", "code": "更新者"},
    "ステータス": {"type": "STATUS", "code": "ステータス"},
    "会社名": {"type": "SINGLE_LINE_TEXT", "code": "会社名"},
}}
# A record as the REST API and a webhook both carry it.
TYPED = {
    "$id": {"type": "__ID__", "value": "2"},
    "$revision": {"type": "__REVISION__", "value": "4"},
    "更新日時": {"type": "UPDATED_TIME", "value": "2026-11-21T08:57:00Z"},
    "更新者": {"type": "MODIFIER", "value": {"code": "sato", "name": "佐藤"}},
    "ステータス": {"type": "STATUS", "value": "対応中"},
    "会社名": {"type": "SINGLE_LINE_TEXT", "value": "株式会社サンプル"},
}


def kintone(rsps, records: list[dict]) -> KintoneConnector:
    rsps.get(f"{KINTONE}/k/v1/app/form/fields.json", json=FORM)
    rsps.get(f"{KINTONE}/k/v1/records.json", json={"records": records})
    return KintoneConnector.from_env(EnvReader(KINTONE_ENV))


def kintone_webhook(connector: KintoneConnector, record: dict):
    body = {"id": "0f1e2d3c-notification", "type": "UPDATE_RECORD", "app": {"id": "7", "name": "リード管理"},
            "record": record, "recordTitle": "株式会社サンプル", "url": f"{KINTONE}/k/7/show#record=2"}
    request = WebhookRequest("POST", f"http://localhost/webhooks/kintone?token={KINTONE_ENV['KINTONE_WEBHOOK_TOKEN']}",
                             {}, {}, json.dumps(body, ensure_ascii=False).encode())
    (event,) = connector.parse_webhook(request, RECEIVED)
    return event


def test_a_polled_kintone_record_reads_as_its_webhook_would(rsps):
    connector = kintone(rsps, [TYPED])
    (record,) = connector.changed_since("7", SINCE, ["ステータス", "会社名"])
    polled = connector.polled_event("7", record, RECEIVED)
    webhook = kintone_webhook(connector, TYPED)
    assert polled.dedupe_key == "poll:7:2:4" and polled.dedupe_key != webhook.dedupe_key
    assert (polled.source, polled.event_type, polled.record_key, polled.occurred_at) == (
        webhook.source, webhook.event_type, webhook.record_key, webhook.occurred_at)
    assert polled.occurred_at == datetime(2026, 11, 21, 8, 57, tzinfo=UTC)  # the record's time, not the poll's
    from_poll = connector.change_of(polled.event_type, polled.body, polled.occurred_at)
    from_webhook = connector.change_of(webhook.event_type, webhook.body, webhook.occurred_at)
    assert from_poll == from_webhook
    assert from_poll.version == f"{4:020d}" and from_poll.fields["ステータス"] == "対応中"
    assert from_poll.bookkeeping == {"$id", "$revision", "更新日時", "更新者"}  # told by type, as in a webhook
    assert json.loads(polled.body)["record"]["更新日時"] == {"type": "UPDATED_TIME", "value": "2026-11-21T08:57:00Z"}


def test_the_same_kintone_version_polled_twice_has_one_key_and_a_new_revision_another(rsps):
    connector = kintone(rsps, [TYPED])
    (record,) = connector.changed_since("7", SINCE, [])
    again = connector.polled_event("7", dict(record), RECEIVED.replace(minute=5))
    assert connector.polled_event("7", record, RECEIVED).dedupe_key == again.dedupe_key
    assert connector.polled_event("7", {**record, "$revision": "5"}, RECEIVED).dedupe_key == "poll:7:2:5"
    forms = [c for c in rsps.calls if "form/fields" in c.request.url]
    assert len(forms) == 1  # the app's field types are read once


def test_a_new_kintone_record_polls_as_added_and_one_without_a_revision_not_at_all(rsps):
    connector = kintone(rsps, [])
    record = {"$id": "9", "$revision": "1", "会社名": "新規株式会社", "更新日時": "2026-11-21T08:00:00Z"}
    event = connector.polled_event("7", record, RECEIVED)
    assert event.event_type == "ADD_RECORD"
    assert connector.change_of(event.event_type, event.body, event.occurred_at).kind == "created"
    assert connector.polled_event("7", {"$id": "9", "会社名": "x"}, RECEIVED) is None


def salesforce(rsps, records: list[dict]) -> SalesforceConnector:
    rsps.post(f"{INSTANCE}/services/oauth2/token",
              json={"access_token": "00D!session", "instance_url": INSTANCE, "token_type": "Bearer"})
    rsps.get(f"{INSTANCE}/services/data/v62.0/query", json={"done": True, "records": records})
    return SalesforceConnector.from_env(EnvReader(SF_ENV))


def test_a_polled_salesforce_lead_reads_as_its_outbound_message_would(rsps):
    lead_id = "00Q5g000000000AAA"
    rest = {"attributes": {"type": "Lead"}, "Id": lead_id, "Email": "taro@example.co.jp",
            "Status": "Working - Contacted", "Description": None, "IsConverted": False, "NumberOfEmployees": 120,
            "Address": {"city": "東京"}, "SystemModstamp": "2026-11-20T01:02:03.000+0000"}
    connector = salesforce(rsps, [rest])
    (record,) = connector.changed_since("Lead", SINCE, ["Email", "Status", "Description", "IsConverted"])
    polled = connector.polled_event("Lead", record, RECEIVED)
    request = WebhookRequest("POST", "http://localhost/webhooks/salesforce", {}, {},
                             outbound_message(("04l5g000001AAAA",), lead_ids=[lead_id]))
    (webhook,) = connector.parse_webhook(request, RECEIVED)
    assert polled.dedupe_key == f"poll:Lead:{lead_id}:2026-11-20T01:02:03.000Z"
    assert (polled.event_type, polled.record_key, polled.occurred_at) == (
        webhook.event_type, webhook.record_key, webhook.occurred_at)
    from_poll = connector.change_of(polled.event_type, polled.body, polled.occurred_at)
    from_webhook = connector.change_of(webhook.event_type, webhook.body, webhook.occurred_at)
    assert from_poll.version == from_webhook.version and from_poll.record_id == from_webhook.record_id
    # Values as an outbound message spells them; nulls and compound fields left out, as a message leaves them.
    assert from_poll.fields == {"Id": lead_id, "Email": "taro@example.co.jp", "Status": "Working - Contacted",
                                "IsConverted": "false", "NumberOfEmployees": "120",
                                "SystemModstamp": "2026-11-20T01:02:03.000Z"}
    assert {k: from_webhook.fields[k] for k in ("Email", "Status", "SystemModstamp")} == {
        k: from_poll.fields[k] for k in ("Email", "Status", "SystemModstamp")}
    assert json.loads(polled.body)["sObjectType"] == "Lead" and from_poll.snapshot


def test_a_salesforce_record_without_a_timestamp_is_not_polled(rsps):
    connector = salesforce(rsps, [])
    assert connector.polled_event("Lead", {"Id": "00Q1", "Status": "Qualified"}, RECEIVED) is None


def test_a_system_that_is_not_polled_makes_no_event():
    hubspot = HubSpotConnector.from_env(EnvReader({}))
    assert hubspot.polled_event("contacts", {"hs_object_id": "1"}, RECEIVED) is None
