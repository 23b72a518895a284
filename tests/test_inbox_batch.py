"""The inbox stage writes a batch of events in a few statements (bridge/store/inbox_batch.py), with the outcome of
handling them one at a time: leads found and created across the batch, one event's failure undoing only its part,
a batch that cannot be written at once written event by event."""

import json
import sqlite3
from datetime import timedelta

from bridge.store.inbox import Changes
from bridge.worker import handlers
from bridge.worker.handlers import HandlerContext
from bridge.worker.inbox import InboxStage
from bridge.worker.retry import RetryPolicy
from connectors.registry import load_connectors
from tests.conftest import BASE_ENV
from tests.helpers import hubspot_event, post_hubspot
from tests.test_activities import activity, post


def stage(store, clock):
    connectors, _ = load_connectors(BASE_ENV)
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(hours=1), give_up_after=timedelta(hours=24))
    return InboxStage(store, HandlerContext(store, connectors), clock, "w1", policy, lease_seconds=60)


def leads_by_hubspot_id(store):
    return {row["hubspot_id"]: row for row in store.conn.db.query("SELECT * FROM leads")}


def test_one_batch_finds_and_creates_leads_as_one_event_at_a_time_would(client, store, clock):
    with store.unit_of_work() as work:  # known by address only, from an earlier activity
        known = work.leads.touch(clock(), email="known@example.co.jp")
        work.leads.save_decision(known, 1, {"score": 0, "stage": "awareness", "temperature": "cold", "qualifies": False,
                                            "excluded": None, "criterion": None}, "", clock())
    post(client, [activity(1, email="Hanako@Example.co.jp"),  # a new lead by address...
                  activity(2, email="hanako@example.co.jp", hubspot_id="77"),  # ...then its contact id
                  activity(3, email="known@example.co.jp", hubspot_id="55")])  # the known lead gets its contact id
    post_hubspot(client, [hubspot_event(1, object_id=77, propertyName="jobtitle", propertyValue="課長"),
                          hubspot_event(2, object_id=88, propertyName="jobtitle", propertyValue="部長"),
                          hubspot_event(3, object_id=88, propertyName="firstname", propertyValue="太郎"),
                          hubspot_event(4, object_id=55, propertyName="company", propertyValue="ベンチ")])
    assert stage(store, clock).run_once() == 7
    assert store.inbox.counts()["done"] == 7
    leads = leads_by_hubspot_id(store)
    assert set(leads) == {"77", "88", "55"}
    assert (leads["77"]["email"], leads["77"]["touches"], leads["77"]["dirty"]) == ("hanako@example.co.jp", 3, 1)
    assert (leads["88"]["email"], leads["88"]["touches"], leads["88"]["needs_read"]) == (None, 2, 1)
    assert (leads["55"]["id"], leads["55"]["touches"], leads["55"]["dirty"]) == (known, 3, 1)
    records = dict(store.conn.db.execute("SELECT record_id, lead_id FROM lead_records WHERE system = 'hubspot'"))
    assert records == {"77": leads["77"]["id"], "88": leads["88"]["id"], "55": known}
    assert [a["id"] for a in store.leads.activities(leads["77"]["id"])] == ["web-1", "web-2"]
    changes = {(c["record_key"], json.loads(c["fields"]).popitem()[0]): c["lead_id"] for c in store.changes.list()}
    assert changes == {("contact:77", "jobtitle"): leads["77"]["id"], ("contact:88", "jobtitle"): leads["88"]["id"],
                       ("contact:88", "firstname"): leads["88"]["id"], ("contact:55", "company"): known}
    # The newest HubSpot version seen of each contact: a later delivery of an older change is stale.
    versions = dict(store.conn.db.execute("SELECT record_id, version FROM lead_records WHERE system = 'hubspot'"))
    assert versions["88"] == "2025-11-24T16:00:00.003Z"


def test_a_failing_event_undoes_only_its_own_part_of_the_batch(client, store, clock, monkeypatch):
    original = handlers.record_change

    def fails_after_writing(context, batch, event, now):
        original(context, batch, event, now)  # touched and linked its lead in the batch...
        if event.record_key == "contact:13":
            raise RuntimeError("target said no")  # ...which must not be written

    monkeypatch.setattr(handlers, "record_change", fails_after_writing)
    post_hubspot(client, [hubspot_event(n, object_id=object_id) for n, object_id in enumerate((12, 13, 14), 1)])
    assert stage(store, clock).run_once() == 3
    assert set(leads_by_hubspot_id(store)) == {"12", "14"}
    assert [c["record_key"] for c in store.changes.list()] == ["contact:12", "contact:14"]
    failed = store.inbox.events("pending")[0]
    assert failed["record_key"] == "contact:13" and failed["attempts"] == 1
    assert store.inbox.counts()["done"] == 2


def test_a_batch_that_cannot_be_written_at_once_is_written_event_by_event(client, store, clock, monkeypatch):
    record_many = Changes.record_many

    def refuses_13(self, changes):
        changes = list(changes)
        if any(change[2] == "contact:13" for change in changes):
            raise sqlite3.IntegrityError("contact 13 cannot be stored")
        return record_many(self, changes)

    monkeypatch.setattr(Changes, "record_many", refuses_13)
    post_hubspot(client, [hubspot_event(n, object_id=object_id) for n, object_id in enumerate((12, 13, 14), 1)])
    post_hubspot(client, [hubspot_event(4, object_id=13, occurredAt=1764000009000)])  # waits behind the failed one
    assert stage(store, clock).run_once() == 4
    assert set(leads_by_hubspot_id(store)) == {"12", "14"}
    assert store.inbox.counts() == {"pending": 2, "processing": 0, "done": 2, "dead": 0}
    failed, behind = store.inbox.events("pending")
    assert failed["attempts"] == 1 and "contact 13 cannot be stored" in failed["last_error"]
    assert behind["attempts"] == 0
    monkeypatch.setattr(Changes, "record_many", record_many)
    clock.advance(seconds=10)
    assert stage(store, clock).run_once() == 2
    assert [c["record_key"] for c in store.changes.list("contact:13")] == ["contact:13", "contact:13"]


def test_a_batch_costs_a_few_statements_not_a_few_per_event(client, store, clock):
    with store.unit_of_work() as work:
        for n in range(100):
            work.leads.touch(clock(), hubspot_id=str(1000 + n))
    post_hubspot(client, [hubspot_event(n, object_id=1000 + n, propertyName="jobtitle", propertyValue="課長")
                          for n in range(100)])
    statements = []
    store.conn.db.conn.set_trace_callback(statements.append)
    try:
        assert stage(store, clock).run_once() == 100
    finally:
        store.conn.db.conn.set_trace_callback(None)
    assert store.inbox.counts()["done"] == 100
    assert all(lead["touches"] == 2 for lead in leads_by_hubspot_id(store).values())
    assert len(statements) <= 30, statements  # claiming included; one event at a time took over 1,100


def test_a_claim_looks_past_records_waiting_behind_a_retry(client, store, clock, monkeypatch):
    original = handlers.record_change

    def fails_for_13(context, batch, event, now):
        if event.record_key == "contact:13":
            raise RuntimeError("target said no")
        original(context, batch, event, now)

    monkeypatch.setattr(handlers, "record_change", fails_for_13)
    post_hubspot(client, [hubspot_event(1, object_id=13)])
    assert stage(store, clock).run_once() == 1  # failed: contact 13 waits for its retry
    # More events of contact 13 than a claim looks at per record: all of them must wait behind the failed one.
    post_hubspot(client, [hubspot_event(n, object_id=13, occurredAt=1764000000000 + n) for n in range(2, 12)])
    post_hubspot(client, [hubspot_event(20, object_id=14)])
    claimed = store.inbox.claim("w2", clock(), 60, max_records=1)
    assert [event.record_key for event in claimed] == ["contact:14"]
