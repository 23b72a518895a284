"""The inbox stage: leases, record order, retries by time, dead letters, replay."""

import json
from datetime import timedelta

import pytest

from bridge.store import LeaseLost
from bridge.worker import handlers
from bridge.worker.handlers import HandlerContext
from bridge.worker.inbox import InboxStage
from bridge.worker.retry import RetryPolicy, backoff
from connectors.registry import load_connectors
from tests.conftest import BASE_ENV
from tests.helpers import hubspot_event, post_hubspot


def worker(store, clock, owner, give_up_after=timedelta(hours=24)):
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(hours=1), give_up_after=give_up_after)
    connectors, _ = load_connectors(BASE_ENV)
    return InboxStage(store, HandlerContext(store, connectors), clock, owner, policy, lease_seconds=60)


@pytest.fixture
def failing_handler(monkeypatch):
    """Replace change handling with one that fails while `fail` is true."""
    state = {"fail": True, "seen": []}
    original = handlers.record_change

    def flaky(context, work, event, now):
        state["seen"].append(event.id)
        if state["fail"]:
            raise RuntimeError("target said no")
        original(context, work, event, now)

    monkeypatch.setattr(handlers, "record_change", flaky)
    return state


def test_events_become_normalised_changes(client, store, clock):
    post_hubspot(client, [hubspot_event(1, object_id=5, propertyName="firstname", propertyValue="太郎")])
    assert worker(store, clock, "w1").run_once() == 1
    assert store.inbox.counts()["done"] == 1
    change = store.changes.list("contact:5")[0]
    assert change["change_type"] == "property"
    assert json.loads(change["fields"]) == {"firstname": "太郎"}
    assert [lead["hubspot_id"] for lead in store.leads.dirty(10)] == ["5"]


def test_events_of_one_record_are_processed_in_occurrence_order(client, store, clock):
    late = hubspot_event(1, object_id=5, occurredAt=1764000009000, propertyValue="new@example.com")
    early = hubspot_event(2, object_id=5, occurredAt=1764000001000, propertyValue="old@example.com")
    post_hubspot(client, [late])
    post_hubspot(client, [early])
    worker(store, clock, "w1").run_once()
    values = [json.loads(c["fields"])["email"] for c in store.changes.list("contact:5")]
    assert values == ["old@example.com", "new@example.com"]


def test_killed_worker_event_is_processed_once_after_lease_expires(client, store, clock):
    post_hubspot(client, [hubspot_event(1, object_id=9)])
    # Worker A claims the event and dies before finishing: nothing completes it.
    claimed = store.inbox.claim("worker-a", clock(), lease_seconds=60, max_records=10)
    assert len(claimed) == 1
    b = worker(store, clock, "worker-b")
    assert b.run_once() == 0  # the lease is live: nobody else may take it
    clock.advance(seconds=61)
    assert b.run_once() == 1
    assert store.inbox.counts()["done"] == 1
    assert len(store.changes.list("contact:9")) == 1
    # If A comes back to life, its late result is refused instead of applied twice.
    with pytest.raises(LeaseLost), store.unit_of_work() as work:
        work.inbox.complete(claimed[0].id, "worker-a", clock())
    assert len(store.changes.list("contact:9")) == 1


def test_failures_back_off_then_dead_letter_then_replay(client, store, clock, failing_handler):
    post_hubspot(client, [hubspot_event(1, object_id=3)])
    w = worker(store, clock, "w1", give_up_after=timedelta(seconds=25))  # retried for 25 s, then buried
    assert w.run_once() == 1
    assert w.run_once() == 0  # backing off: not due yet
    clock.advance(seconds=10)  # first retry is due within base (10 s)
    assert w.run_once() == 1
    clock.advance(seconds=20)
    assert w.run_once() == 1
    assert store.inbox.counts()["dead"] == 1
    dead = store.inbox.events("dead")[0]
    assert dead["attempts"] == 3 and "target said no" in dead["last_error"]

    failing_handler["fail"] = False
    assert store.inbox.replay([dead["id"]], clock()) == 1
    assert w.run_once() == 1
    assert store.inbox.counts() == {"pending": 0, "processing": 0, "done": 1, "dead": 0}


def test_later_events_wait_behind_a_failed_one_of_the_same_record(client, store, clock, failing_handler):
    post_hubspot(client, [hubspot_event(1, object_id=4, occurredAt=1)])
    w = worker(store, clock, "w1")
    w.run_once()
    post_hubspot(client, [hubspot_event(2, object_id=4, occurredAt=2)])
    post_hubspot(client, [hubspot_event(3, object_id=8, occurredAt=3)])  # another record is not blocked
    failing_handler["fail"] = False
    assert w.run_once() == 1
    assert [c["record_key"] for c in store.changes.list()] == ["contact:8"]
    clock.advance(seconds=10)
    w.run_once()
    assert [json.loads(c["fields"]) and c["inbox_id"] for c in store.changes.list("contact:4")] == [1, 2]


def test_backoff_grows_exponentially_with_a_cap():
    policy = RetryPolicy(base=timedelta(seconds=5), cap=timedelta(seconds=60))
    assert [backoff(n, policy, rng=lambda: 1.0).total_seconds() for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 40, 60]
    assert backoff(1, policy, rng=lambda: 0.0).total_seconds() == 2.5
