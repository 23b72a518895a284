"""Each connector turns the events it parsed from a delivery into one change shape, and owns its record keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bridge.kernel.env import EnvReader
from connectors.base import Change, Connector, WebhookRequest
from connectors.hubspot import HubSpotConnector
from connectors.kintone import KintoneConnector
from connectors.salesforce import SalesforceConnector
from tests.connectors import test_hubspot, test_kintone, test_salesforce
from tests.connectors.test_hubspot import signed
from tests.connectors.test_salesforce import ORG_ID
from tests.helpers import hubspot_event, kintone_notification, outbound_message

# The contracts' settings (API and webhooks); the modules, not the classes, are imported so that pytest does not
# collect the contract tests here a second time.
HUBSPOT = test_hubspot.TestHubSpotContract.settings
SALESFORCE = test_salesforce.TestSalesforceContract.settings
KINTONE = test_kintone.TestKintoneContract.settings

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def changes(connector: Connector, request: WebhookRequest) -> list[Change]:
    events = connector.parse_webhook(request, NOW)
    found = [connector.change_of(e.event_type, e.body, e.occurred_at) for e in events]
    for event, change in zip(events, found, strict=True):
        assert connector.record_key(change.object, change.record_id) == event.record_key
    return found


@pytest.fixture
def hubspot() -> HubSpotConnector:
    return HubSpotConnector.from_env(EnvReader(HUBSPOT))


@pytest.fixture
def salesforce() -> SalesforceConnector:
    return SalesforceConnector.from_env(EnvReader(SALESFORCE))


@pytest.fixture
def kintone() -> KintoneConnector:
    return KintoneConnector.from_env(EnvReader(KINTONE))


# --- HubSpot: one event per change; property changes carry the one property -----------------------------------


def test_hubspot_property_change_carries_the_property_and_orders_by_occurred_at(hubspot):
    [change] = changes(hubspot, signed([hubspot_event(7, object_id=123)], NOW))
    assert change == Change(
        system="hubspot",
        object="contacts",
        record_id="123",
        kind="property",
        fields={"email": "lead123@example.co.jp"},
        snapshot=False,
        occurred_at=datetime(2025, 11, 24, 16, 0, 0, 7000, tzinfo=UTC),
        version="2025-11-24T16:00:00.007Z",
    )


@pytest.mark.parametrize(
    ("subscription", "kind"),
    [
        ("contact.creation", "created"),
        ("contact.deletion", "deleted"),
        ("contact.privacyDeletion", "erased"),
        ("contact.restore", "restored"),
        ("contact.merge", "merged"),
        ("contact.associationChange", "association"),
    ],
)
def test_hubspot_event_types_become_kinds(hubspot, subscription, kind):
    event = hubspot_event(1, subscriptionType=subscription, propertyName=None, propertyValue=None)
    if subscription == "contact.creation":
        event.update(changeFlag="NEW")
    [change] = changes(hubspot, signed([event], NOW))
    assert (change.object, change.kind, change.fields, change.snapshot) == ("contacts", kind, {}, False)


def test_hubspot_keys_keep_the_stored_spelling_and_round_trip(hubspot):
    assert hubspot.record_key("contacts", "123") == "contact:123"
    assert hubspot.parse_record_key("contact:123") == ("contacts", "123")
    assert hubspot.parse_record_key("company:9") == ("companies", "9")
    assert hubspot.parse_record_key(hubspot.record_key("2-3456", "9")) == ("2-3456", "9")


def test_hubspot_generic_object_events_name_the_object_by_its_type_id(hubspot):
    contact = hubspot_event(1, subscriptionType="object.creation", objectTypeId="0-1", propertyName=None)
    custom = hubspot_event(2, object_id=9, subscriptionType="object.propertyChange", objectTypeId="2-3456")
    events = hubspot.parse_webhook(signed([contact, custom], NOW), NOW)
    assert [e.record_key for e in events] == ["contact:123", "2-3456:9"]  # a contact keyed like contact.* events
    first, second = changes(hubspot, signed([contact, custom], NOW))
    assert (first.object, first.kind) == ("contacts", "created")
    assert (second.object, second.kind, second.fields) == ("2-3456", "property", {"email": "lead9@example.co.jp"})


# --- Salesforce: an outbound message is the whole record as it is now -------------------------------------------


def outbound(body: bytes) -> WebhookRequest:
    token = SALESFORCE["SALESFORCE_WEBHOOK_TOKEN"]
    return WebhookRequest("POST", f"https://bridge.example.co.jp/webhooks/salesforce?token={token}",
                          {"Content-Type": "text/xml; charset=utf-8"}, {"token": token}, body)


def test_salesforce_notification_is_a_snapshot_ordered_by_system_modstamp(salesforce):
    body = outbound_message(("04l5g000001AAAA", "04l5g000001AAAB"), org_id=ORG_ID,
                            lead_ids=["00Q5g00000AbCdEFGH", "00Q5g00000ZzZzZAAA"])
    first, second = changes(salesforce, outbound(body))
    assert first == Change(
        system="salesforce",
        object="Lead",
        record_id="00Q5g00000AbCdEFGH",
        kind="updated",
        fields={"Id": "00Q5g00000AbCdEFGH", "Email": "taro@example.co.jp", "Status": "Working - Contacted",
                "Description": None, "SystemModstamp": "2026-11-20T01:02:03.000Z"},
        snapshot=True,
        occurred_at=datetime(2026, 11, 20, 1, 2, 3, tzinfo=UTC),
        version="2026-11-20T01:02:03.000Z",
        bookkeeping=frozenset({"Id", "SystemModstamp", "LastModifiedDate", "CreatedDate", "LastModifiedById",
                               "LastViewedDate", "LastReferencedDate"}),
    )
    assert second.record_id == "00Q5g00000ZzZzZAAA"
    assert salesforce.parse_record_key("Lead:00Q5g00000AbCdEFGH") == ("Lead", "00Q5g00000AbCdEFGH")


def test_salesforce_record_never_edited_since_created_is_created_and_versions_sort_as_text(salesforce):
    def task(modstamp: str, created: str, modified: str) -> bytes:
        return outbound_message(org_id=ORG_ID).replace(b'xsi:type="sf:Lead"', b'xsi:type="sf:Task"').replace(
            b"<sf:SystemModstamp>2026-11-20T01:02:03.000Z</sf:SystemModstamp>",
            f"<sf:SystemModstamp>{modstamp}</sf:SystemModstamp><sf:CreatedDate>{created}</sf:CreatedDate>"
            f"<sf:LastModifiedDate>{modified}</sf:LastModifiedDate>".encode(),
        )

    [new] = changes(salesforce, outbound(task("2026-11-20T09:59:00.000+0000", "2026-11-20T09:59:00.000Z",
                                              "2026-11-20T09:59:00.000Z")))
    [edited] = changes(salesforce, outbound(task("2026-11-20T10:00:00.000Z", "2026-11-20T09:59:00.000Z",
                                                 "2026-11-20T10:00:00.000Z")))
    assert (new.object, new.kind, edited.kind) == ("Task", "created", "updated")
    assert new.version < edited.version  # "+0000" and "Z" alike: both become UTC ISO-8601


# --- kintone: the whole record on add, edit and status; the id alone on delete -----------------------------------


def notification(payload: dict) -> WebhookRequest:
    token = KINTONE["KINTONE_WEBHOOK_TOKEN"]
    return WebhookRequest("POST", f"https://bridge.example.co.jp/webhooks/kintone?token={token}",
                          {"Content-Type": "application/json"}, {"token": token},
                          json.dumps(payload, ensure_ascii=False).encode())


@pytest.mark.parametrize(
    ("kind_in", "kind"), [("ADD_RECORD", "created"), ("UPDATE_RECORD", "updated"), ("UPDATE_STATUS", "status")]
)
def test_kintone_record_notifications_are_snapshots_ordered_by_revision(kintone, kind_in, kind):
    [change] = changes(kintone, notification(kintone_notification(kind=kind_in)))
    assert change == Change(
        system="kintone",
        object="7",
        record_id="2",
        kind=kind,
        fields={"$id": "2", "$revision": "3", "会社名": "株式会社サンプル", "更新日時": "2026-11-20T01:02:00Z"},
        snapshot=True,
        occurred_at=datetime(2026, 11, 20, 1, 2, tzinfo=UTC),
        version="00000000000000000003",
        bookkeeping=frozenset({"$id", "$revision", "更新日時"}),  # set by kintone on every save
    )


def test_kintone_revisions_sort_as_text(kintone):
    def at_revision(revision: str) -> str | None:
        payload = kintone_notification()
        payload["record"]["$revision"]["value"] = revision
        return changes(kintone, notification(payload))[0].version

    assert at_revision("9") < at_revision("10")


def test_kintone_delete_and_comment_name_the_record_only(kintone):
    deleted = {"id": "d-1", "type": "DELETE_RECORD", "app": {"id": "7", "name": "リード管理"}, "recordId": "2",
               "deletedBy": {"code": "user1", "name": "User 1"}, "deletedAt": "2026-11-20T02:00:00Z"}
    [change] = changes(kintone, notification(deleted))
    assert (change.kind, change.record_id, change.fields, change.snapshot, change.version) == (
        "deleted", "2", {}, False, None
    )
    assert change.occurred_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    comment = {"id": "c-1", "type": "ADD_RECORD_COMMENT", "app": {"id": "7", "name": "リード管理"}, "recordId": "2",
               "comment": {"id": "5", "text": "電話しました", "createdAt": "2026-11-20T02:05:00Z"}}
    [change] = changes(kintone, notification(comment))
    assert (change.kind, change.record_id, change.occurred_at) == ("comment", "2", NOW)


def test_kintone_keys_keep_the_stored_spelling_and_round_trip(kintone):
    assert kintone.record_key("7", "2") == "app7:2"
    assert kintone.parse_record_key("app7:2") == ("7", "2")
