"""What reconciliation needs of the sandbox: bulk seeding, deletes as users make them (with or without their
webhook), Salesforce's recycle bin and getDeleted, who changed a record, and reads that page like the real APIs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bridge.kernel.clock import utcnow
from connectors.base import Connector, WebhookRequest
from connectors.hubspot import HubSpotConnector
from connectors.kintone import KintoneConnector
from connectors.registry import load_connectors
from connectors.sandbox.kintone_schema import API_USER, UI_USER
from connectors.testing import SpentBudget
from tests.sandbox.conftest import KINTONE_TOKEN

SEARCH = "/crm/v3/objects/contacts/search"



@pytest.fixture
def connectors(sandbox, clock) -> dict[str, Connector]:
    """The three connectors on the sandbox's clock, with a budget that never refuses (these tests count calls)."""
    built, problems = load_connectors(sandbox.env(), clock=clock, budget=SpentBudget(spent=False))
    assert problems == []
    return built


def as_request(received) -> WebhookRequest:
    return WebhookRequest("POST", received.url, received.headers, received.query, received.body)


def bulk(control, system: str, object_: str, records: list[dict]) -> list[str]:
    reply = control.post("/bulk", json={"system": system, "object": object_, "records": records})
    assert reply.status_code == 201, reply.text
    return reply.json()["ids"]


LEADS = [{"LastName": f"山田{i}", "Company": f"株式会社{i}", "Email": f"l{i}@example.co.jp"} for i in range(40)]


# --- bulk ---------------------------------------------------------------------------------------------------------


def test_bulk_creates_every_system_s_records_in_order_and_sends_no_webhook(wired, control, receiver):
    contacts = bulk(control, "hubspot", "contacts", [{"email": f"c{i}@example.co.jp"} for i in range(300)])
    leads = bulk(control, "salesforce", "leads", LEADS)
    records = bulk(control, "kintone", "1", [{"company": f"社{i}"} for i in range(300)])
    assert contacts == [str(1001 + i) for i in range(300)]
    assert records == [str(1 + i) for i in range(300)]
    assert [r["Id"] for r in control.get("/salesforce/leads").json()] == leads
    assert control.get(f"/hubspot/contacts/{contacts[7]}").json()["properties"]["email"] == "c7@example.co.jp"
    assert control.get(f"/kintone/apps/1/records/{records[7]}").json()["company"]["value"] == "社7"
    assert wired.flush()
    assert receiver.received == []
    assert control.get("/webhooks").json()["deliveries"] == []


def test_bulk_is_all_or_nothing_and_names_the_record(control, sandbox):
    bad_email = [{"email": "a@example.co.jp"}, {"email": "not-an-email"}]
    refused = control.post("/bulk", json={"system": "hubspot", "object": "contacts", "records": bad_email})
    assert refused.status_code == 400 and "records[1]" in refused.json()["error"]
    twice = [{"email": "a@example.co.jp"}, {"email": "A@example.co.jp"}]
    assert control.post("/bulk", json={"system": "hubspot", "records": twice}).status_code == 409
    no_company = [LEADS[0], {"LastName": "会社なし"}]
    missing = control.post("/bulk", json={"system": "salesforce", "object": "Lead", "records": no_company})
    assert missing.status_code == 400 and missing.json()["code"] == "REQUIRED_FIELD_MISSING"
    assert "records[1]" in missing.json()["error"]
    empty = control.post("/bulk", json={"system": "kintone", "object": "1", "records": [{"company": "A"}, {}]})
    assert empty.status_code == 400 and "records[1].company.value" in empty.json()["errors"]
    assert sandbox.hubspot.store.all() == [] and sandbox.salesforce.store.all() == []
    assert control.get("/kintone/apps/1/records").json() == []
    assert control.post("/bulk", json={"system": "jira", "records": []}).status_code == 400
    assert control.post("/bulk", json={"system": "salesforce", "object": "accounts", "records": []}).status_code == 404


# --- deletes ------------------------------------------------------------------------------------------------------


def test_a_hubspot_delete_sends_contact_deletion_and_the_contact_is_gone(wired, control, hubspot, receiver, clock):
    ids = bulk(control, "hubspot", "contacts", [{"email": f"c{i}@example.co.jp"} for i in range(3)])
    clock.advance(minutes=3)
    assert control.delete(f"/hubspot/contacts/{ids[1]}").status_code == 204
    assert wired.flush()
    [delivery] = receiver.wait(1)
    [event] = json.loads(delivery.body)
    assert (event["subscriptionType"], event["objectId"], event["changeFlag"]) == ("contact.deletion", int(ids[1]),
                                                                                     "DELETED")
    assert event["changeSource"] == "CRM" and event["occurredAt"] == int(clock.now.timestamp() * 1000)
    connector = HubSpotConnector(wired.config.hubspot.client_secret)
    connector.verify_webhook(as_request(delivery), utcnow())
    [inbox] = connector.parse_webhook(as_request(delivery), utcnow())
    change = connector.change_of(inbox.event_type, inbox.body, inbox.occurred_at)
    assert (change.object, change.record_id, change.kind) == ("contacts", ids[1], "deleted")
    assert hubspot.get(f"/crm/v3/objects/contacts/{ids[1]}").status_code == 404
    found = hubspot.post(SEARCH, json={"limit": 10}).json()["results"]
    assert [c["id"] for c in found] == [ids[0], ids[2]]
    assert control.delete(f"/hubspot/contacts/{ids[1]}").status_code == 404


def test_a_delete_with_its_webhook_lost_sends_nothing(wired, control, receiver):
    contact = bulk(control, "hubspot", "contacts", [{"email": "a@example.co.jp"}])[0]
    record = bulk(control, "kintone", "1", [{"company": "A"}])[0]
    assert control.delete(f"/hubspot/contacts/{contact}?webhooks=false").status_code == 204
    assert control.delete(f"/kintone/apps/1/records/{record}", json={"webhooks": False}).status_code == 204
    assert wired.flush()
    assert receiver.received == []
    assert control.get(f"/hubspot/contacts/{contact}").status_code == 404
    assert control.get(f"/kintone/apps/1/records/{record}").status_code == 404


def test_a_kintone_delete_sends_delete_record_naming_who_and_when(wired, control, kintone, receiver, clock):
    ids = bulk(control, "kintone", "1", [{"company": "A"}, {"company": "B"}])
    clock.advance(minutes=2, seconds=15)
    assert control.delete(f"/kintone/apps/1/records/{ids[0]}").status_code == 204
    assert wired.flush()
    [delivery] = receiver.wait(1)
    note = json.loads(delivery.body)
    assert note["type"] == "DELETE_RECORD" and note["recordId"] == ids[0] and note["app"]["id"] == "1"
    assert note["deletedBy"] == UI_USER
    assert note["deletedAt"] == clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    connector = KintoneConnector(KINTONE_TOKEN, frozenset({"1"}))
    connector.verify_webhook(as_request(delivery), utcnow())
    [inbox] = connector.parse_webhook(as_request(delivery), utcnow())
    change = connector.change_of(inbox.event_type, inbox.body, inbox.occurred_at)
    assert (change.object, change.record_id, change.kind, change.occurred_at) == ("1", ids[0], "deleted", clock.now)
    listed = kintone.get("/records.json", params={"app": 1, "query": "order by $id asc"}).json()["records"]
    assert [r["$id"]["value"] for r in listed] == [ids[1]]


def test_a_salesforce_delete_goes_to_the_recycle_bin_with_no_outbound_message(wired, control, salesforce, receiver,
                                                                              clock):
    ids = bulk(control, "salesforce", "leads", LEADS[:3])
    start = clock.now
    clock.advance(minutes=5, seconds=20)
    deleted_at = clock.now
    assert control.delete(f"/salesforce/leads/{ids[1]}").status_code == 204
    assert control.delete(f"/salesforce/leads/{ids[1]}").status_code == 404
    assert wired.flush()
    assert receiver.received == []  # outbound messages do not fire on a delete
    rows = salesforce.get("/query", params={"q": "SELECT Id FROM Lead ORDER BY Id"}).json()["records"]
    assert [r["Id"] for r in rows] == [ids[0], ids[2]]
    clock.advance(minutes=3)
    window = {"start": start.isoformat(), "end": clock.now.isoformat()}
    reply = salesforce.get("/sobjects/Lead/deleted/", params=window).json()
    assert reply["deletedRecords"] == [
        {"id": ids[1], "deletedDate": deleted_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
    ]
    assert reply["earliestDateAvailable"] == (clock.now - timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert reply["latestDateCovered"] == clock.now.strftime("%Y-%m-%dT%H:%M:00.000+0000")
    other = salesforce.get("/sobjects/Contact/deleted/", params=window).json()
    assert other["deletedRecords"] == []


def test_get_deleted_refuses_dates_salesforce_refuses(salesforce, clock):
    url = "/sobjects/Lead/deleted/"
    clock.advance(seconds=30)
    now = clock.now
    cases = [
        {"start": (now - timedelta(days=31)).isoformat(), "end": now.isoformat()},  # more than 30 days back
        {"start": (now - timedelta(seconds=70)).isoformat(), "end": now.isoformat()},  # one minute, read to minutes
        {"end": now.isoformat()},
        {"start": "yesterday", "end": now.isoformat()},
    ]
    for params in cases:
        reply = salesforce.get(url, params=params)
        assert reply.status_code == 400, params
        assert reply.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    assert salesforce.get("/sobjects/Account/deleted/", params=cases[0]).status_code == 404


def test_deleted_since_reads_the_recycle_bin_until_it_is_emptied(control, connectors, clock):
    salesforce = connectors["salesforce"]
    ids = bulk(control, "salesforce", "leads", LEADS[:3])
    clock.advance(hours=1)
    since = clock.now
    clock.advance(minutes=10)
    control.delete(f"/salesforce/leads/{ids[0]}")
    first = clock.now
    clock.advance(minutes=10)
    assert salesforce.deleted_since("Lead", since, clock.now) == [(ids[0], first)]
    assert salesforce.deleted_since("Lead", first + timedelta(seconds=1), clock.now) == []

    control.delete(f"/salesforce/leads/{ids[1]}")
    second = clock.now
    clock.advance(minutes=10)
    assert control.delete("/salesforce/recycle-bin").json()["purged"]["Lead"] == 2
    assert salesforce.deleted_since("Lead", since, clock.now) is None  # purged: only a full id scan can tell
    assert salesforce.deleted_since("Lead", second, clock.now) == []
    assert salesforce.calls["GET sobjects/Lead/deleted"] == 4


def test_the_recycle_bin_forgets_deletions_after_15_days(control, connectors, clock):
    salesforce = connectors["salesforce"]
    ids = bulk(control, "salesforce", "leads", LEADS[:2])
    since = clock.now
    control.delete(f"/salesforce/leads/{ids[0]}")
    clock.advance(days=14, hours=23)
    assert salesforce.deleted_since("Lead", since, clock.now) == [(ids[0], since)]
    clock.advance(hours=2)
    assert salesforce.deleted_since("Lead", since, clock.now) is None  # beyond the horizon: not even asked
    assert salesforce.calls["GET sobjects/Lead/deleted"] == 1
    assert salesforce.deleted_since("Lead", clock.now - timedelta(days=1), clock.now) == []


# --- who changed a record, and when -------------------------------------------------------------------------------


def test_each_system_records_who_saved_a_record_last(control, connectors, sandbox, clock):
    hubspot, salesforce, kintone = connectors["hubspot"], connectors["salesforce"], connectors["kintone"]
    hubspot.upsert("contacts", "email", [{"email": "api@example.co.jp", "firstname": "A"}])
    salesforce.upsert("Lead", "HubSpot_Contact_Id__c", [{"HubSpot_Contact_Id__c": "1", "LastName": "A",
                                                        "Company": "C"}])
    kintone.upsert("1", "hubspot_contact_id", [{"hubspot_contact_id": "1", "company": "C"}])
    contact = bulk(control, "hubspot", "contacts", [{"email": "ui@example.co.jp"}])[0]
    clock.advance(minutes=7)
    [lead] = [r["Id"] for r in control.get("/salesforce/leads").json()]
    control.patch(f"/salesforce/leads/{lead}", json={"fields": {"Title": "部長"}})
    control.patch("/kintone/apps/1/records/1", json={"fields": {"title": "部長"}})

    when, who = hubspot.change_fields("contacts")
    contacts = {r["email"]: r for r in hubspot.scan("contacts", ["email", when, who])}
    assert contacts["api@example.co.jp"][who] is None  # an integration's write names no user
    assert contacts["ui@example.co.jp"][who] == "4123456"
    assert contacts["ui@example.co.jp"]["hs_object_id"] == contact and contacts["ui@example.co.jp"][when]
    hubspot.upsert("contacts", "email", [{"email": "ui@example.co.jp", "firstname": "B"}])
    assert hubspot.read("contacts", [contact], [who])[contact][who] is None

    when, who = salesforce.change_fields("Lead")
    [record] = salesforce.scan("Lead", [when, who])
    assert record[who] == sandbox.config.salesforce.ui_user_id != sandbox.config.salesforce.user_id
    assert record[when] == clock.now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    when, who = kintone.change_fields("1")
    assert (when, who) == ("updated_time", "modifier")
    [record] = kintone.scan("1", [when, who])
    assert record[who] == UI_USER and record[when] == clock.now.strftime("%Y-%m-%dT%H:%M:00Z")
    kintone.upsert("1", "hubspot_contact_id", [{"hubspot_contact_id": "1", "company": "D"}])
    assert next(kintone.scan("1", [who]))[who] == API_USER


# --- reads that page like the real APIs ---------------------------------------------------------------------------


def test_a_scan_crosses_the_search_cap_in_id_windows_at_the_paging_minimum(control, connectors, sandbox):
    sandbox.config.hubspot.search_rate_limit = 1000  # the sandbox's clock stands still: no per-second limit here
    ids = bulk(control, "hubspot", "contacts", [{"email": f"c{i}@example.co.jp"} for i in range(10_050)])
    scanned = [r["hs_object_id"] for r in connectors["hubspot"].scan("contacts", ["email"])]
    assert scanned == ids
    assert sandbox.calls.count("hubspot.search") == sandbox.calls.count("hubspot.search", 200) == 51


def test_a_search_page_after_a_change_shows_the_change(control, hubspot):
    ids = bulk(control, "hubspot", "contacts", [{"email": f"c{i}@example.co.jp"} for i in range(5)])
    body = {"sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 2}
    first = hubspot.post(SEARCH, json=body).json()
    assert [c["id"] for c in first["results"]] == ids[:2] and first["total"] == 5
    control.delete(f"/hubspot/contacts/{ids[2]}")
    second = hubspot.post(SEARCH, json={**body, "after": first["paging"]["next"]["after"]}).json()
    assert [c["id"] for c in second["results"]] == ids[3:5] and second["total"] == 4
    assert "paging" not in second


def test_kintone_seek_queries_answer_as_the_whole_query_would(control, kintone):
    bulk(control, "kintone", "1", [{"company": "A" if i % 3 else "B"} for i in range(1, 21)])

    def ids(query: str, **params: str) -> tuple[list[int], str | None]:
        reply = kintone.get("/records.json", params={"app": 1, "query": query, **params}).json()
        return [int(r["$id"]["value"]) for r in reply["records"]], reply.get("totalCount")

    assert ids("$id > 5 order by $id asc limit 3", totalCount="true") == ([6, 7, 8], "15")
    assert ids("$id >= 5 order by $id asc limit 2") == ([5, 6], None)
    assert ids('company in ("B") and $id > 3 order by $id asc limit 3', totalCount="true") == ([6, 9, 12], "5")
    assert ids('$id > 5 and $id > 17 order by $id asc limit 10') == ([18, 19, 20], None)
    # An "or" at the top: $id > 15 is not where the records start.
    assert ids('$id > 15 or company in ("B") order by $id asc limit 4', totalCount="true") == ([3, 6, 9, 12], "10")
    assert ids('($id > 15) and company in ("B") order by $id asc limit 4') == ([18], None)
    assert ids("$id > 5 order by $id asc limit 2 offset 3") == ([9, 10], None)
    assert ids("$id > 5 limit 2") == ([20, 19], None)  # without an order: newest first, as kintone answers
    assert ids('$id > "" order by $id asc limit 2', totalCount="true") == ([], "0")
    control.delete("/kintone/apps/1/records/7")
    assert ids("$id > 5 order by $id asc limit 3", totalCount="true") == ([6, 8, 9], "14")


def test_soql_orders_ids_as_written_so_id_windows_page_through_an_object(control, salesforce):
    ids = bulk(control, "salesforce", "leads", LEADS)  # ids 10 and 36 differ only in case (…A, …a)
    assert ids[9][:15].lower() == ids[35][:15].lower() and ids[9] != ids[35]

    def query(soql: str) -> list[str]:
        return [r["Id"] for r in salesforce.get("/query", params={"q": soql}).json()["records"]]

    assert query("SELECT Id FROM Lead ORDER BY Id") == ids
    after = "SELECT Id FROM Lead WHERE Id > '{}' ORDER BY Id"
    assert query(after.format(ids[9])) == ids[10:]
    assert query(after.format(ids[35]) + " DESC") == ids[36:][::-1]
