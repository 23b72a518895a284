"""The HubSpot sandbox keeps when each contact property last took a new value (what benchmarks time writes by)."""

from __future__ import annotations

from tests.sandbox.conftest import START


def test_each_property_keeps_when_it_last_took_a_new_value(hubspot, sandbox, clock):
    contact = sandbox.hubspot.store.create({"email": "a@example.com", "hs_lead_status": "NEW"}, "CRM")
    assert contact.changed_at["hs_lead_status"] == START
    clock.advance(seconds=5)
    inputs = [{"id": contact.id, "properties": {"hs_lead_status": "IN_PROGRESS", "email": "a@example.com"}}]
    assert hubspot.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs}).status_code == 200
    later = sandbox.hubspot.store.find(contact.id).changed_at
    assert later["hs_lead_status"] == clock.now
    assert later["email"] == START  # written again with the same value: not a new version
    clock.advance(seconds=5)
    assert hubspot.post("/crm/v3/objects/contacts/batch/update", json={"inputs": inputs}).status_code == 200
    assert sandbox.hubspot.store.find(contact.id).changed_at["hs_lead_status"] == START.replace(second=5)
