"""What HubSpot hears: the latest lead status and lifecycle stage, a backwards move flagged, the outcome values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.feedback.events import SalesEvent
from bridge.feedback.load import load_feedback
from bridge.feedback.writeback import feedback, is_backward
from tests.conftest import SHIPPED_MAPPINGS

RULES = load_feedback(SHIPPED_MAPPINGS)
T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def event(kind, minutes=0, **extra):
    return SalesEvent(kind, "salesforce", "Lead", "00Q1", T0 + timedelta(minutes=minutes), **extra)


def test_a_call_then_qualified_moves_the_stage_forward_and_keeps_the_first_touch():
    found = feedback(RULES, [event("attempted"), event("connected", 30), event("qualified", 60)],
                     "marketingqualifiedlead")
    assert found.properties["hs_lead_status"] == "OPEN_DEAL"
    assert found.properties["bridge.first_touch_at"] == "2026-11-24T01:00:00.000Z"
    assert (found.lifecycle, found.backward) == ("salesqualifiedlead", False)


def test_recycled_goes_back_to_lead_and_says_so():
    found = feedback(RULES, [event("attempted"), event("recycled", 10, reason="unreachable",
                                                       reason_value="No Response")], "marketingqualifiedlead")
    assert (found.lifecycle, found.backward) == ("lead", True)
    assert found.properties["bridge.sales_reason"] == "unreachable"
    assert found.properties["bridge.sales_reason_label"] == "連絡不通 / Unreachable"
    assert found.properties["bridge.sales_outcome"] == "recycled"


def test_won_sets_customer_the_date_and_the_amount():
    found = feedback(RULES, [event("converted"), event("won", 90, details={"amount": 1200000})], "opportunity")
    assert found.lifecycle == "customer" and not found.backward
    assert found.properties["bridge.won_at"] == "2026-11-24T02:30:00.000Z"
    assert found.properties["bridge.amount"] == 1200000


def test_a_stage_already_reached_is_not_written_again():
    assert feedback(RULES, [event("qualified")], "salesqualifiedlead").lifecycle is None


def test_backwards_in_hubspots_order_only():
    assert is_backward("customer", "lead") and not is_backward("lead", "customer")
    assert not is_backward("a_custom_stage", "lead") and not is_backward(None, "lead")


def test_a_call_after_the_decision_does_not_take_the_lead_status_back():
    found = feedback(RULES, [event("converted"), event("won", 30), event("contacted", 60)], "customer")
    assert found.properties["hs_lead_status"] == "OPEN_DEAL"  # converted's; the later call does not undo it
    assert found.properties["bridge.sales_event"] == "contacted"
    assert feedback(RULES, [event("attempted"), event("connected", 5)], None).properties["hs_lead_status"] == \
        "CONNECTED"  # touches before any decision still move it


def test_a_new_cycle_clears_the_last_word_of_sales_and_starts_as_a_new_mql():
    found = feedback(RULES, [], "lead", new_cycle=True)
    assert found.properties["hs_lead_status"] == "NEW"
    assert found.properties["bridge.sales_outcome"] == "" and found.properties["bridge.sales_reason_label"] == ""
    assert (found.lifecycle, found.backward, found.must_land) == ("marketingqualifiedlead", False, True)
    after_disqualified = feedback(RULES, [], "other", new_cycle=True)
    assert (after_disqualified.lifecycle, after_disqualified.backward) == ("marketingqualifiedlead", True)
    called = feedback(RULES, [event("attempted")], "marketingqualifiedlead", new_cycle=True)
    assert called.properties["hs_lead_status"] == "ATTEMPTED_TO_CONTACT" and called.lifecycle is not None
    assert called.properties["bridge.first_touch_at"] == "2026-11-24T01:00:00.000Z"


def test_giving_the_lead_back_must_land_a_forward_move_need_not():
    assert feedback(RULES, [event("recycled")], "marketingqualifiedlead").must_land
    assert not feedback(RULES, [event("qualified")], "marketingqualifiedlead").must_land
