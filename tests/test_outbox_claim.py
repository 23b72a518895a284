"""The outbox claims a batch once it is full or has lingered; while leads still wait to be evaluated (a burst being
handed off), a batch that is not full waits up to twice the linger for the next evaluated leads to fill it."""

from datetime import timedelta

import pytest

LINGER = timedelta(milliseconds=300)
DECIDED = {"score": 0, "stage": "awareness", "temperature": "cold", "qualifies": False, "excluded": None,
           "criterion": None}


def queue_upserts(store, clock, count, dirty_leads=0):
    """`count` evaluated leads with an upsert each, and `dirty_leads` leads still waiting for evaluation."""
    with store.unit_of_work() as work:
        for n in range(count):
            lead = work.leads.touch(clock(), hubspot_id=str(100 + n))
            work.leads.save_decision(lead, 1, DECIDED, "", clock())
            work.outbox.enqueue(lead, "upsert", "salesforce-leads", clock())
        for n in range(dirty_leads):
            work.leads.touch(clock(), hubspot_id=str(900 + n))


def claim(store, clock):
    return store.outbox.claim("w1", clock(), 60, {"upsert": 200}, LINGER, targets=["salesforce-leads"])


@pytest.mark.parametrize("dirty_leads, claimed_at_linger", [(0, 100), (1, 0)])
def test_a_batch_waits_longer_only_while_leads_wait_for_evaluation(store, clock, dirty_leads, claimed_at_linger):
    queue_upserts(store, clock, 100, dirty_leads)
    assert claim(store, clock) == []  # not full, not lingered
    clock.advance(milliseconds=300)
    assert len(claim(store, clock)) == claimed_at_linger
    clock.advance(milliseconds=300)  # twice the linger: it goes, more coming or not
    assert len(claim(store, clock)) == 100 - claimed_at_linger


def test_a_full_batch_goes_at_once_whatever_waits(store, clock):
    queue_upserts(store, clock, 200, dirty_leads=1)
    assert len(claim(store, clock)) == 200


def test_a_kind_may_wait_longer_for_a_burst_to_be_evaluated(store, clock):
    queue_upserts(store, clock, 100, dirty_leads=1)
    patience = {"upsert": 10 * LINGER}  # as write-backs do: not the handoff, so out of its way
    clock.advance(milliseconds=900)
    assert store.outbox.claim("w1", clock(), 60, {"upsert": 200}, LINGER, targets=["salesforce-leads"],
                              patience=patience) == []
    clock.advance(milliseconds=2100)
    assert len(store.outbox.claim("w1", clock(), 60, {"upsert": 200}, LINGER, targets=["salesforce-leads"],
                                  patience=patience)) == 100
