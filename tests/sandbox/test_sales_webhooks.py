"""What reps' actions send: Salesforce outbound messages per object (Lead, Task, Opportunity; not Contact) and kintone
UPDATE_RECORD / UPDATE_STATUS webhooks, received over loopback and read with Bridge's own connectors."""

from __future__ import annotations

import json
import threading

import pytest

from bridge.kernel.clock import utcnow
from connectors.base import WebhookRequest
from connectors.kintone import KintoneConnector
from connectors.salesforce import ACK_ENVELOPE, SalesforceConnector
from connectors.sandbox.config import DeliveryConfig
from connectors.sandbox.delivery import DeliveryLog, Dispatcher, Outcome

SF_TOKEN = "sf-token-0123456789abcdef"
KINTONE_TOKEN = "kintone-token-0123456789"


@pytest.fixture
def wired(sandbox, receiver):
    sandbox.config.salesforce.webhook_token = SF_TOKEN
    sandbox.config.kintone.webhook_token = KINTONE_TOKEN
    sandbox.send_webhooks_to(receiver.url)
    receiver.default = (200, ACK_ENVELOPE, "text/xml")
    return sandbox


def salesforce_events_of(sandbox, delivery) -> list[dict]:
    """A message's notifications as Bridge's connector parses them: sObjectType, actionId, record."""
    connector = SalesforceConnector(sandbox.config.salesforce.org_id, SF_TOKEN)
    request = WebhookRequest("POST", delivery.url, delivery.headers, delivery.query, delivery.body)
    connector.verify_webhook(request, utcnow())
    return [json.loads(e.body) for e in connector.parse_webhook(request, utcnow())]


def salesforce_events(sandbox, receiver) -> list[dict]:
    assert sandbox.flush()
    return [event for delivery in receiver.received for event in salesforce_events_of(sandbox, delivery)]


def kintone_notes(sandbox, receiver) -> list[tuple[str, dict]]:
    """(event type, the change Bridge makes of it) per webhook received."""
    assert sandbox.flush()
    connector = KintoneConnector(KINTONE_TOKEN, frozenset({"1"}))
    found = []
    for delivery in receiver.received:
        request = WebhookRequest("POST", delivery.url, delivery.headers, delivery.query, delivery.body)
        [event] = connector.parse_webhook(request, utcnow())
        found.append((event.event_type, connector.change_of(event.event_type, event.body, event.occurred_at)))
    return found


def seed_lead(control) -> str:
    record = {"LastName": "山田", "Company": "株式会社サンプル", "LeadSource": "Web"}
    return control.post("/salesforce/leads", json={"webhooks": False, "records": [record]}).json()["ids"][0]


def test_a_call_a_conversion_and_a_won_deal_send_one_message_per_object(wired, control, receiver):
    lead_id = seed_lead(control)
    control.post("/salesforce/tasks", json={"records": [
        {"WhoId": lead_id, "TaskSubtype": "Call", "CallDisposition": "Connected", "Status": "Completed"}]})
    lead = control.post(f"/salesforce/leads/{lead_id}/convert", json={"opportunity": {"Amount": 300000}}).json()
    deal_id = lead["ConvertedOpportunityId"]
    control.patch(f"/salesforce/opportunities/{deal_id}", json={"fields": {"StageName": "Closed Won"}})
    events = salesforce_events(wired, receiver)
    # No Contact message: the org has outbound messages on Lead, Task and Opportunity only.
    assert sorted(e["sObjectType"] for e in events) == ["Lead", "Opportunity", "Opportunity", "Task"]
    for delivery in receiver.received:  # a message carries one object's notifications
        assert len({e["sObjectType"] for e in salesforce_events_of(wired, delivery)}) == 1
    assert len({e["actionId"] for e in events}) == 3  # each object's outbound message is an action of its own
    task = next(e["record"] for e in events if e["sObjectType"] == "Task")
    assert (task["WhoId"], task["TaskSubtype"], task["CallDisposition"], task["Status"]) == (
        lead_id, "Call", "Connected", "Completed")
    converted = next(e["record"] for e in events if e["sObjectType"] == "Lead")
    assert (converted["IsConverted"], converted["ConvertedOpportunityId"]) == ("true", deal_id)
    assert converted["ConvertedContactId"] == lead["ConvertedContactId"]
    won = [e["record"] for e in events if e["sObjectType"] == "Opportunity"][-1]
    assert (won["StageName"], won["IsClosed"], won["IsWon"], won["Amount"]) == ("Closed Won", "true", "true",
                                                                                "300000.0")


def test_a_status_change_with_a_reason_sends_the_lead_and_webhooks_false_sends_nothing(wired, control, receiver):
    lead_id = seed_lead(control)
    control.patch(f"/salesforce/leads/{lead_id}", json={"webhooks": False, "fields": {"Status": "Working - Contacted"}})
    control.post(f"/salesforce/leads/{lead_id}/convert", json={"webhooks": False, "opportunity": False})
    assert salesforce_events(wired, receiver) == []
    other = seed_lead(control)
    control.patch(f"/salesforce/leads/{other}", json={
        "fields": {"Status": "Closed - Not Converted", "Disqualification_Reason__c": "No Budget"}})
    [event] = salesforce_events(wired, receiver)
    assert event["record"]["Status"] == "Closed - Not Converted"
    assert event["record"]["Disqualification_Reason__c"] == "No Budget"


def test_a_kintone_status_action_sends_update_status_with_the_record(wired, control, receiver, clock):
    record_id = control.post("/kintone/apps/1/records", json={"webhooks": False, "records": [{"company": "A"}]})
    record_id = record_id.json()["ids"][0]
    clock.advance(minutes=5)
    lost = {"status": "失注", "fields": {"失注理由": "予算なし"}}
    control.post(f"/kintone/apps/1/records/{record_id}/status", json=lost)
    (edited, edit), (moved, move) = kintone_notes(wired, receiver)
    assert (edited, edit.kind, edit.fields["ステータス"], edit.fields["失注理由"]) == (
        "UPDATE_RECORD", "updated", "未対応", "予算なし")
    assert (moved, move.kind, move.fields["ステータス"], move.fields["失注理由"]) == (
        "UPDATE_STATUS", "status", "失注", "予算なし")
    assert move.version > edit.version  # revision 2 then 4: a status action counts twice
    assert move.occurred_at.isoformat().startswith("2026-01-05T00:05:00")
    assert move.fields["作業者"] == []


def test_kintone_rep_actions_with_webhooks_false_notify_nobody(wired, control, receiver):
    record_id = control.post("/kintone/apps/1/records", json={"webhooks": False, "records": [{"company": "A"}]})
    record_id = record_id.json()["ids"][0]
    control.patch(f"/kintone/apps/1/records/{record_id}", json={"webhooks": False, "fields": {"失注理由": "重複"}})
    control.post(f"/kintone/apps/1/records/{record_id}/status", json={"webhooks": False, "status": "対象外"})
    assert kintone_notes(wired, receiver) == []


def test_a_grouping_dispatcher_batches_each_group_apart_in_the_order_queued():
    sent: list[list[tuple[str, int]]] = []
    done = threading.Event()

    def deliver(batch, attempt):
        sent.append(list(batch))
        if sum(map(len, sent)) == 7:
            done.set()
        return Outcome("loopback", "", ok=True)

    settings = DeliveryConfig(retries=0, batch_window=0.01)
    dispatcher = Dispatcher("salesforce", deliver, settings, DeliveryLog(), max_batch=2, group=lambda item: item[0])
    with dispatcher.muted():
        dispatcher.put(("Lead", 0))  # muted: dropped
    for item in [("Lead", 1), ("Task", 1), ("Lead", 2), ("Lead", 3), ("Opportunity", 1), ("Task", 2), ("Lead", 4)]:
        dispatcher.put(item)
    try:
        assert dispatcher.flush(5) and done.wait(5)
    finally:
        dispatcher.close()
    assert all(len({object for object, _ in batch}) == 1 and len(batch) <= 2 for batch in sent)
    by_object: dict[str, list[int]] = {}
    for batch in sent:
        for object, n in batch:
            by_object.setdefault(object, []).append(n)
    assert by_object == {"Lead": [1, 2, 3, 4], "Task": [1, 2], "Opportunity": [1]}
