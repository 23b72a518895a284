"""The pure diff: every drift kind found from records as read, and none where the sides agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.mapping import check_text
from bridge.reconcile.plan import LeadState, SideRecords, plan_reconciliation, same

ROUTE = "sf"
ROUTE_TEXT = """
source: {system: hubspot, object: contacts, key: hs_object_id}
target: {system: salesforce, object: Lead, key: HubSpot_Contact_Id__c}
fields:
  - {source: email, target: Email, transforms: [trim, lower]}
  - {source: lastname, target: LastName, default: (不明)}
  - {source: company, target: Company}
  - {source: phone, target: Phone, direction: both, conflict: target_wins}
  - {source: jobtitle, target: Title, direction: both, conflict: newest_wins}
  - {source: bridge.score, target: Bridge_Score__c, transforms: [number]}
  - {source: bridge_sales_status, target: Status, direction: to_source}
"""
WHERE = ("salesforce", "Lead")


def route():
    loaded = check_text(ROUTE_TEXT, Path(f"{ROUTE}.yaml"), {})
    assert not loaded.errors, loaded.errors
    return loaded.route


def contact(hubspot_id: str, **extra) -> dict:
    return {"hs_object_id": hubspot_id, "email": f"p{hubspot_id}@example.jp", "lastname": "山田", "firstname": "太郎",
            "company": "Acme", "phone": "03-1111-2222", "jobtitle": "CTO", "bridge_score": "120",
            "bridge_stage": "consideration", "bridge_temperature": "hot", "bridge_sales_status": "Working",
            "lastmodifieddate": "2026-12-01T00:00:00Z", **extra}


def lead_record(hubspot_id: str, **extra) -> dict:
    return {"Id": f"00Q{hubspot_id}", "HubSpot_Contact_Id__c": hubspot_id, "Email": f"p{hubspot_id}@example.jp",
            "LastName": "山田", "Company": "Acme", "Phone": "03-1111-2222", "Title": "CTO", "Bridge_Score__c": 95.0,
            "Status": "Working", "LastModifiedDate": "2026-11-30T00:00:00.000+0000", "LastModifiedById": "005REP",
            **extra}


def lead(hubspot_id: str, linked: bool = True, **extra) -> LeadState:
    records = {WHERE: (f"00Q{hubspot_id}", "2026-11-30T01:00:00.000Z")} if linked else {}
    values = {"score": 120, "stage": "consideration", "temperature": "hot", **extra}
    return LeadState(int(hubspot_id), hubspot_id, f"p{hubspot_id}@example.jp", "2026-11-29T00:00:00Z",
                     records=records, **values)


def sides(contacts: list[dict], records: list[dict], complete: bool = True, covered: set[str] = frozenset()):
    hubspot = SideRecords("hubspot", "contacts", {c["hs_object_id"]: c for c in contacts}, complete, set(covered),
                          changed_at="lastmodifieddate")
    target = SideRecords("salesforce", "Lead", {r["Id"]: r for r in records}, complete, set(covered),
                         changed_at="LastModifiedDate", changed_by="LastModifiedById")
    return hubspot, {ROUTE: target}


def plan(leads, contacts, records, **kwargs):
    hubspot, targets = sides(contacts, records, **kwargs)
    return plan_reconciliation("full", leads, hubspot, targets, [route()])


def test_sides_that_agree_have_no_drift():
    found = plan([lead("1"), lead("2")], [contact("1"), contact("2")], [lead_record("1"), lead_record("2")])
    assert found.items == []
    assert found.compared == {"hubspot": 2, "salesforce": 2}


def test_a_handed_off_lead_without_a_record_is_sent_again():
    found = plan([lead("1", linked=False)], [contact("1")], [])
    assert [(d.kind, d.action, d.reason, d.lead_id) for d in found.items] == [("missing", "upsert", "not_in_target", 1)]
    assert found.items[0].lead_name == "山田 太郎 <p1@example.jp>"


def test_a_lead_not_handed_off_is_not_expected_anywhere():
    waiting = LeadState(1, "1", "p1@example.jp", None)
    assert plan([waiting], [contact("1")], []).items == []


def test_a_field_hubspot_owns_is_written_again_and_says_who_changed_it():
    found = plan([lead("1")], [contact("1", company="Acme Japan")],
                 [lead_record("1", Company="ACME", LastModifiedDate="2026-12-01T09:00:00.000+0000")])
    (item,) = found.items
    assert (item.kind, item.action, item.reason, item.field) == ("differs", "upsert", "source_wins", "Company")
    assert (item.expected, item.actual) == ("Acme Japan", "ACME")
    # Saved in Salesforce after Bridge last wrote it: a rep's edit, with who and when.
    assert (item.changed_side, item.changed_by, item.changed_at) == ("salesforce", "005REP", "2026-12-01T09:00:00Z")


def test_an_edit_in_hubspot_whose_webhook_never_came_is_hubspot_s_change():
    found = plan([lead("1")], [contact("1", company="Acme Japan", lastmodifieddate="1764720000000")],
                 [lead_record("1")])
    (item,) = found.items
    assert (item.changed_side, item.changed_at) == ("hubspot", "2025-12-03T00:00:00Z")


def test_a_two_way_field_follows_its_conflict_rule():
    # target_wins: sales' phone stands, and HubSpot hears it through the feedback write.
    found = plan([lead("1")], [contact("1")], [lead_record("1", Phone="03-9999-0000")])
    (item,) = found.items
    assert (item.kind, item.system, item.action, item.reason, item.field) == (
        "differs", "hubspot", "feedback", "target_wins", "phone")
    assert (item.expected, item.actual) == ("03-9999-0000", "03-1111-2222")
    # newest_wins: HubSpot changed last, so HubSpot's title is written to Salesforce.
    newer = plan([lead("1")], [contact("1", jobtitle="CEO", lastmodifieddate="2026-12-02T00:00:00Z")],
                 [lead_record("1")])
    assert [(d.action, d.field, d.expected) for d in newer.items] == [("upsert", "Title", "CEO")]
    older = plan([lead("1")], [contact("1", jobtitle="CEO", lastmodifieddate="2026-11-01T00:00:00Z")],
                 [lead_record("1")])
    assert [(d.action, d.field, d.expected) for d in older.items] == [("feedback", "jobtitle", "CTO")]


def test_a_sales_value_hubspot_never_got_is_written_back():
    found = plan([lead("1")], [contact("1", bridge_sales_status="Open")], [lead_record("1", Status="Qualified")])
    (item,) = found.items
    assert (item.kind, item.action, item.field, item.expected, item.actual) == (
        "writeback", "feedback", "bridge_sales_status", "Qualified", "Open")


def test_a_record_deleted_in_the_target_is_for_a_person():
    hubspot, targets = sides([contact("1")], [])
    targets[ROUTE].deleted["00Q1"] = "2026-12-01T03:00:00Z"
    found = plan_reconciliation("full", [lead("1")], hubspot, targets, [route()])
    (item,) = found.items
    assert (item.kind, item.action, item.reason, item.record_id, item.changed_at) == (
        "deleted", "person", "deleted_in_target", "00Q1", "2026-12-01T03:00:00Z")


def test_a_deleted_hubspot_contact_is_for_a_person():
    (item,) = plan([lead("1")], [], [lead_record("1")]).items
    assert (item.kind, item.system, item.reason, item.action) == ("deleted", "hubspot", "deleted_in_hubspot", "person")


def test_a_record_carrying_a_key_no_lead_has_is_an_orphan():
    (item,) = plan([], [], [lead_record("77")]).items
    assert (item.kind, item.record_id, item.details["key"], item.action) == ("orphan", "00Q77", "77", "person")
    assert item.lead_name == "山田 <p77@example.jp>"  # named from the record itself


def test_two_records_for_one_hubspot_id_or_one_email_are_duplicates():
    twin = lead_record("1", Id="00Qtwin")
    found = plan([lead("1")], [contact("1")], [lead_record("1"), twin])
    assert [(d.kind, d.reason, d.details["records"]) for d in found.items] == [
        ("duplicate", "same_key", ["00Q1", "00Qtwin"])]
    by_hand = {"Id": "00Qhand", "Email": "P1@example.jp ", "LastName": "山田", "Company": "Acme"}
    found = plan([lead("1")], [contact("1")], [lead_record("1"), by_hand])
    assert [(d.kind, d.reason, d.details["records"]) for d in found.items] == [
        ("duplicate", "same_email", ["00Q1", "00Qhand"])]


def test_hubspot_s_copy_of_the_score_is_stale():
    found = plan([lead("1", score=150)], [contact("1")], [lead_record("1")])
    assert [(d.kind, d.action, d.field, d.expected, d.actual) for d in found.items] == [
        ("stale", "writeback", "bridge_score", 150, "120")]


def test_an_incremental_plan_judges_absence_only_for_the_leads_it_looked_up():
    leads = [lead("1", linked=False), lead("2", linked=False)]
    found = plan(leads, [contact("1"), contact("2")], [], complete=False, covered={"2"})
    assert [(d.kind, d.lead_id) for d in found.items] == [("missing", 2)]


def test_a_converted_lead_is_not_compared():
    converted = LeadState(1, "1", "p1@example.jp", "2026-11-29T00:00:00Z", score=120, stage="consideration",
                          temperature="hot", records={WHERE: ("00Q1", None)}, converted=frozenset({WHERE}))
    assert plan([converted], [contact("1", company="New")], [lead_record("1")]).items == []


def test_the_share_counts_each_lead_once():
    leads = [lead(str(i)) for i in range(1, 11)]
    contacts = [contact(str(i), company="X", phone="1") if i == 1 else contact(str(i)) for i in range(1, 11)]
    found = plan(leads, contacts, [lead_record(str(i)) for i in range(1, 11)])
    assert len(found.items) == 2 and found.share() == pytest.approx(0.2)  # one upsert, one feedback: two repairs


@pytest.mark.parametrize(("a", "b"), [
    ("100", 100), (100.0, "100"), ("true", True), (None, ""), ("a;b", ["b", "a"]), (" x ", "x"),
    ("2026-12-01T10:30:45Z", "2026-12-01T10:30:00.000+0000"), ("1764585045000", "2025-12-01T10:30:00Z"),
])
def test_the_same_value_spelled_two_ways_is_the_same(a, b):
    assert same(a, b)


@pytest.mark.parametrize(("a", "b"), [("100", 101), ("x", None), ("2026-12-01T10:30:00Z", "2026-12-01T10:31:00Z"),
                                      ("Acme", "ACME"), ("true", "false")])
def test_different_values_differ(a, b):
    assert not same(a, b)
