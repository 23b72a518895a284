"""The way back, through the worker: a Salesforce outbound message → the Lead read again → sales events on the
timeline → HubSpot written (lead status, lifecycle stage forward or, cleared first, backward; the routes' to_source
fields) → a recycled lead handed off again in a new cycle, exactly once. Connectors scripted, no network."""

from __future__ import annotations

import json

import pytest

from bridge.feedback.writeback import is_backward
from connectors.base import UpsertResult
from tests.feedback.test_events import AT  # noqa: F401 (a fixed time the events use)
from tests.helpers import make_worker, post_salesforce
from tests.test_sales_side_changes import LEAD_ID, sf_message


class FakeSalesforce:
    """The real connector's webhooks and change shape; its reads answered from `records`."""

    def __init__(self, real):
        self.real, self.records, self.reads = real, {}, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def api_problem(self):
        return None

    def read(self, object, ids, fields, id_field=None):
        self.reads.append((object, list(ids), list(fields)))
        return {i: self.records[(object, i)] for i in ids if (object, i) in self.records}


class FakeHubSpot:
    """Takes every upsert; remembers each call's inputs."""

    name = "hubspot"

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def api_problem(self):
        return None

    def upsert(self, object, key_field, records):
        self.calls.append([dict(r) for r in records])
        return [UpsertResult(str(r[key_field]), "updated", id=str(r[key_field])) for r in records]


class StrictHubSpot(FakeHubSpot):
    """Keeps a contact's lifecycle stage against a move back unless it was cleared first, answering 2xx all the same
    with the stage it kept, as HubSpot does (api-facts: lifecyclestage does not move backwards through the API)."""

    def __init__(self, real, stage="marketingqualifiedlead"):
        super().__init__(real)
        self.stage = stage

    def upsert(self, object, key_field, records):
        self.calls.append([dict(r) for r in records])
        for record in records:
            new = record.get("lifecyclestage")
            if new is not None and (new == "" or not is_backward(self.stage, new)):
                self.stage = new
        return [UpsertResult(str(r[key_field]), "updated", id=str(r[key_field]),
                             values={"lifecyclestage": self.stage}) for r in records]


@pytest.fixture
def way_back(app, store, clock, request):
    """A handed-off lead and its Salesforce Lead; HubSpot a FakeHubSpot, or the class given by indirect
    parametrisation."""
    services = app.extensions["bridge"]
    salesforce = FakeSalesforce(services.connectors["salesforce"])
    hubspot = getattr(request, "param", FakeHubSpot)(services.connectors["hubspot"])
    connectors = {**services.connectors, "salesforce": salesforce, "hubspot": hubspot}
    services.connectors = connectors  # the inbox stage turns webhooks into changes with these too
    with store.unit_of_work() as work:
        lead = work.leads.touch(clock(), hubspot_id="501")
        work.leads.save_record(lead, 1, "501", "taro@example.co.jp",
                               json.dumps({"lifecyclestage": "marketingqualifiedlead"}), clock())
        assert work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", clock())
        work.leads.link_record(lead, "salesforce", "Lead", LEAD_ID, clock())
    worker = make_worker(app, clock, connectors=connectors)

    def rep(status: str, notification: str, modstamp: str, **more):
        salesforce.records[("Lead", LEAD_ID)] = {"Id": LEAD_ID, "Status": status, "IsConverted": False, **more}
        assert post_salesforce(app.test_client(), sf_message(notification, modstamp, Status=status)).status_code == 200
        clock.advance(seconds=1)
        worker.drain()

    return lead, rep, salesforce, hubspot, worker


def written(hubspot) -> dict:
    """The properties the last write set (after a clear, if there was one)."""
    (write,) = hubspot.calls[-1]
    return write


def test_a_reps_status_change_reaches_hubspot_after_the_lead_is_read_again(way_back, store):
    lead, rep, salesforce, hubspot, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    assert salesforce.reads and salesforce.reads[0][0] == "Lead" and "Status" in salesforce.reads[0][2]
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"]
    assert written(hubspot)["hs_lead_status"] == "IN_PROGRESS" and len(hubspot.calls) == 1


def test_qualified_moves_the_lifecycle_forward_in_one_call(way_back):
    _, rep, _, hubspot, _ = way_back
    rep("Qualified", "04l1", "2026-11-21T09:05:00.000Z")
    assert written(hubspot)["lifecyclestage"] == "salesqualifiedlead" and len(hubspot.calls) == 1


def test_disqualified_keeps_the_reason_of_the_vocabulary(way_back, store):
    lead, rep, _, hubspot, _ = way_back
    rep("Closed - Not Converted", "04l2", "2026-11-21T10:00:00.000Z", Disqualification_Reason__c="予算なし")
    assert written(hubspot)["hs_lead_status"] == "UNQUALIFIED" and written(hubspot)["lifecyclestage"] == "other"
    (event,) = store.sales.events(lead)
    assert (event["kind"], event["reason"], event["reason_value"]) == ("disqualified", "no_budget", "予算なし")


def test_recycled_after_qualified_moves_the_stage_back_clearing_it_first(way_back):
    _, rep, _, hubspot, _ = way_back
    rep("Qualified", "04l1", "2026-11-21T09:05:00.000Z")
    rep("Recycled", "04l2", "2026-11-21T10:00:00.000Z", Disqualification_Reason__c="No Response")
    clear, set_ = hubspot.calls[-2:]
    assert clear == [{"hs_object_id": "501", "lifecyclestage": ""}]  # HubSpot moves a stage back only this way
    assert set_[0]["lifecyclestage"] == "lead" and set_[0]["hs_lead_status"] == "BAD_TIMING"


def test_a_duplicated_delivery_tells_nothing_twice(way_back, store):
    lead, rep, _, hubspot, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")  # the same notification again
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"] and len(hubspot.calls) == 1


def test_recycled_then_requalified_is_handed_off_again_once(way_back, store, clock):
    lead, rep, _, _, worker = way_back
    rep("Recycled", "04l1", "2026-11-21T09:05:00.000Z", Disqualification_Reason__c="No Response")
    row = store.leads.get(lead)
    assert row["handed_off_at"] is None and row["cycle"] == 2
    (closed,) = store.sales.cycles(lead)
    assert (closed["cycle"], closed["closed_by"], closed["closed_reason"]) == (1, "recycled", "unreachable")
    with store.unit_of_work() as work:  # qualifies again in the new cycle: handed off, once
        assert work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", clock())
        assert not work.leads.mark_handed_off(lead, "pricing", "again", clock())
    assert store.leads.get(lead)["cycle"] == 2


def test_the_timeline_tells_what_sales_did_and_the_closed_cycle(way_back, store, app):
    from bridge.timeline import timeline

    lead, rep, _, _, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    rep("Recycled", "04l2", "2026-11-21T10:00:00.000Z", Disqualification_Reason__c="他社で検討中")
    entries = timeline(store, lead)["entries"]
    sales = [e["sales"] for e in entries if e["kind"] == "sales"]
    assert [s["event"] for s in sales] == ["contacted", "recycled"]
    assert sales[1]["reason"] == "unknown" and not sales[1]["reason_known"]  # kept as given, flagged
    (cycle,) = [e["text"] for e in entries if e["kind"] == "cycle"]
    assert cycle.startswith("handoff cycle 1 closed: recycled")


def test_a_deal_won_before_the_conversion_was_applied_is_still_heard(way_back, store):
    """The Opportunity's own message came first and found no lead; the conversion links it and reads it."""
    lead, rep, salesforce, hubspot, _ = way_back
    salesforce.records[("Opportunity", "0065g00000WonAAA")] = {
        "Id": "0065g00000WonAAA", "StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Amount": 1200000,
        "CloseDate": "2026-11-30", "LastModifiedDate": "2026-11-21T09:30:00.000Z"}
    rep("Closed - Converted", "04l1", "2026-11-21T09:20:00.000Z", IsConverted=True,
        ConvertedContactId="0035g00000ConAAA", ConvertedOpportunityId="0065g00000WonAAA")
    assert [e["kind"] for e in store.sales.events(lead)] == ["converted", "won"]
    assert ("Opportunity", ["0065g00000WonAAA"]) in [(o, ids) for o, ids, _ in salesforce.reads]
    assert "Contact" not in [o for o, _, _ in salesforce.reads]  # no feedback rules for it: nothing to read
    assert written(hubspot)["lifecyclestage"] == "customer"


@pytest.mark.parametrize("way_back", [StrictHubSpot], indirect=True)
def test_a_stage_hubspot_kept_against_a_give_back_is_cleared_and_set_again(way_back, store):
    lead, rep, _, hubspot, _ = way_back
    hubspot.stage = "opportunity"  # moved on in HubSpot by hand; Bridge still knows MQL
    with store.unit_of_work() as work:
        work.leads.note_property(lead, "lifecyclestage", "lead")  # and thinks the contact is a lead already
    rep("Recycled", "04l2", "2026-11-21T10:00:00.000Z", Disqualification_Reason__c="No Response")
    assert [call[0].get("lifecyclestage") for call in hubspot.calls] == ["lead", "", "lead"]
    assert hubspot.stage == "lead"
    assert json.loads(store.leads.get(lead)["properties"])["lifecyclestage"] == "lead"


@pytest.mark.parametrize("way_back", [StrictHubSpot], indirect=True)
def test_a_forward_move_hubspot_keeps_a_later_stage_against_is_left_so_and_known(way_back, store):
    lead, rep, _, hubspot, _ = way_back
    hubspot.stage = "customer"  # an existing customer qualifies as a lead again: HubSpot keeps customer
    rep("Qualified", "04l1", "2026-11-21T09:05:00.000Z")
    assert [call[0].get("lifecyclestage") for call in hubspot.calls] == ["salesqualifiedlead"]  # no clearing
    assert json.loads(store.leads.get(lead)["properties"])["lifecyclestage"] == "customer"  # what HubSpot kept


def test_handed_off_again_clears_the_last_cycles_word_in_hubspot(way_back, store, clock, app):
    lead, rep, _, hubspot, worker = way_back
    rep("Recycled", "04l1", "2026-11-21T09:05:00.000Z", Disqualification_Reason__c="No Response")
    assert written(hubspot)["hs_lead_status"] == "BAD_TIMING"
    with store.unit_of_work() as work:  # qualifies again: the evaluate stage's handoff in the new cycle
        assert work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", clock())
        work.outbox.enqueue(lead, "feedback", "hubspot", clock())
    worker.drain()
    again = written(hubspot)
    assert again["hs_lead_status"] == "NEW" and again["lifecyclestage"] == "marketingqualifiedlead"
    cleared = {name: value for name, value in again.items() if name.startswith("bridge_sales_")}
    assert cleared and set(cleared.values()) == {""}


def test_a_deal_lost_with_a_reason_reaches_hubspot_with_the_vocabularys_words(way_back, store):
    lead, rep, salesforce, hubspot, _ = way_back
    salesforce.records[("Opportunity", "0065g00000LostAA")] = {
        "Id": "0065g00000LostAA", "StageName": "Closed Lost", "IsClosed": True, "IsWon": False, "Amount": 800000,
        "CloseDate": "2026-11-30", "Loss_Reason__c": "Lost to Competitor",
        "LastModifiedDate": "2026-11-21T09:30:00.000Z"}
    rep("Closed - Converted", "04l1", "2026-11-21T09:20:00.000Z", IsConverted=True,
        ConvertedContactId="0035g00000ConAAA", ConvertedOpportunityId="0065g00000LostAA")
    assert [e["kind"] for e in store.sales.events(lead)] == ["converted", "lost"]
    told = written(hubspot)
    assert (told["hs_lead_status"], told["bridge_sales_outcome"]) == ("UNQUALIFIED", "lost")
    assert told["bridge_sales_reason"] == "競合選定 / Chose a competitor"
    assert "lifecyclestage" not in told  # a lost deal leaves the contact an opportunity (the conversion's stage)


def test_a_stale_delivery_after_a_newer_one_writes_nothing_to_hubspot(way_back, store):
    lead, rep, salesforce, hubspot, worker = way_back
    rep("Working - Contacted", "04l2", "2026-11-21T09:05:00.000Z")
    writes, reads = len(hubspot.calls), len(salesforce.reads)
    rep("Open - Not Contacted", "04l1", "2026-11-21T09:00:00.000Z")  # retried late: older than what was applied
    assert len(hubspot.calls) == writes and len(salesforce.reads) == reads  # not even read again
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"]


class TerseHubSpot(FakeHubSpot):
    """Answers each result with its default properties only, not the stage: there is nothing to check."""

    def upsert(self, object, key_field, records):
        self.calls.append([dict(r) for r in records])
        return [UpsertResult(str(r[key_field]), "updated", id=str(r[key_field]),
                             values={"hs_object_id": str(r[key_field])}) for r in records]


@pytest.mark.parametrize("way_back", [TerseHubSpot], indirect=True)
def test_a_give_back_is_not_written_again_when_hubspots_answer_does_not_say_the_stage(way_back):
    _, rep, _, hubspot, _ = way_back
    rep("Recycled", "04l2", "2026-11-21T10:00:00.000Z", Disqualification_Reason__c="No Response")
    assert [call[0].get("lifecyclestage") for call in hubspot.calls] == ["", "lead"]  # clear, set; no third call
