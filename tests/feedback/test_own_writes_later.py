"""A value Bridge wrote itself to a sales record (an SLA recycle's `Status: Recycled`) is never told later as
something sales did: its echo is ignored, and when a rep's later edit of another field makes the record be read
again, the status Bridge wrote is not mistaken for a rep's new status."""

from __future__ import annotations

from tests.feedback import test_stage
from tests.test_sales_side_changes import LEAD_ID

way_back = test_stage.way_back  # the fixture: a handed-off lead, a rep at its Salesforce Lead, the worker


def test_a_status_bridge_wrote_is_not_told_as_a_reps_when_another_field_changes(way_back, store, clock):
    lead, rep, salesforce, hubspot, _ = way_back
    rep("Working - Contacted", "04l1", "2026-11-21T09:05:00.000Z")
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"]
    # Bridge writes the Lead's status itself (as sla.yaml's recycle does), remembering it before writing.
    store.echoes.remember("salesforce", {LEAD_ID: {"Status": "Recycled"}}, clock())
    rep("Recycled", "04l2", "2026-11-21T10:00:00.000Z")  # its outbound message: our own write coming back
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"]
    writes = len(hubspot.calls)
    # A rep then fixes the Lead's phone number: the Lead is read again, and still says Recycled.
    rep("Recycled", "04l3", "2026-11-21T11:00:00.000Z", Phone="03-1234-5678")
    assert [e["kind"] for e in store.sales.events(lead)] == ["contacted"]
    assert len(hubspot.calls) == writes and store.leads.get(lead)["handed_off_at"] is not None
