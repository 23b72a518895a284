"""A sales event told while the lead's HubSpot write is being sent is not lost: that write may have read the lead's
events already, so it is queued again once done, and the new write carries the event (one open write per lead)."""

from __future__ import annotations

from datetime import timedelta

from tests.feedback import test_stage
from tests.feedback.test_stage import written

way_back = test_stage.way_back  # the fixture: a handed-off lead, a rep at its Salesforce Lead, the worker


def test_an_event_told_while_the_leads_write_is_in_flight_gets_its_own_write(way_back, store, clock):
    lead, rep, _, hubspot, worker = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    assert written(hubspot)["hs_lead_status"] == "IN_PROGRESS"
    with store.unit_of_work() as work:  # another lane's write for the lead, claimed and not yet answered
        work.outbox.enqueue(lead, "feedback", "hubspot", clock())
    (sending,) = store.outbox.claim("other", clock(), 120, {"feedback": 100}, timedelta(0), targets=["hubspot"])
    writes = len(hubspot.calls)
    rep("Qualified", "04l2", "2026-11-21T10:00:00.000Z")
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted", "qualified"]  # told at once
    assert len(hubspot.calls) == writes  # but not written yet: the lead's write is still in flight
    with store.unit_of_work() as work:
        assert work.outbox.complete_many([(sending["id"], "{}")], "other", clock()) == 1
    clock.advance(seconds=1)
    worker.drain()
    assert written(hubspot)["hs_lead_status"] == "OPEN_DEAL"  # queued again once the first was done


def test_a_write_queued_while_in_flight_goes_again_once_after_it_and_not_otherwise(store, clock):
    with store.unit_of_work() as work:
        lead = work.leads.touch(clock(), hubspot_id="700")
        other = work.leads.touch(clock(), hubspot_id="701")
        work.outbox.enqueue_many([(lead, "feedback", "hubspot", clock()), (other, "feedback", "hubspot", clock())])
    sending = store.outbox.claim("w", clock(), 120, {"feedback": 100}, timedelta(0), targets=["hubspot"])
    with store.unit_of_work() as work:
        work.outbox.enqueue(lead, "feedback", "hubspot", clock())  # news for one lead while both are sent
        work.outbox.enqueue(lead, "feedback", "hubspot", clock())  # twice: still once more
        work.outbox.complete_many([(item["id"], "{}") for item in sending], "w", clock())
    again = store.outbox.claim("w", clock(), 120, {"feedback": 100}, timedelta(0), targets=["hubspot"])
    assert [item["lead_id"] for item in again] == [lead]


def test_salesforce_records_are_read_200_to_a_call(way_back, store, clock):
    _, _, salesforce, _, worker = way_back
    with store.unit_of_work() as work:  # 250 handed-off leads whose Leads changed at once
        for n in range(250):
            lead = work.leads.touch(clock(), hubspot_id=f"9{n:03d}")
            work.leads.link_record(lead, "salesforce", "Lead", f"00Q9{n:03d}", clock())
            work.sales.mark_to_read("salesforce", "Lead", f"00Q9{n:03d}", clock())
    worker.drain()
    assert [len(ids) for object, ids, _ in salesforce.reads if object == "Lead"] == [200, 50]
