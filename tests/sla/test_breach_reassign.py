"""Escalation by reassignment: a breach under a policy with `reassign:` writes the owner (a queue) to the sales
record, once, and the notice says where it was reassigned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import make_worker
from tests.sla.test_sla_writes import FakeSalesforce, drain
from tests.sla.test_timers import DEADLINE, handed_off

QUEUE = "00G000000000001"
COMMENTED = "      # reassign: {salesforce: {OwnerId: 00G000000000001}}"


@pytest.fixture
def app(make_settings, clock):
    from bridge.app import create_app

    settings = make_settings()
    sla = Path(settings.mappings_dir) / "sla.yaml"
    text = sla.read_text(encoding="utf-8")
    assert COMMENTED in text
    sla.write_text(text.replace(COMMENTED, f"      reassign: {{salesforce: {{OwnerId: '{QUEUE}'}}}}"), encoding="utf-8")
    return create_app(settings, clock=clock)


def test_a_breach_with_reassign_writes_the_queue_to_the_owner_field_once(app, store, clock, caplog):
    services = app.extensions["bridge"]
    salesforce = FakeSalesforce(services.connectors["salesforce"])
    worker = make_worker(app, clock, connectors={**services.connectors, "salesforce": salesforce})
    lead = handed_off(store, clock)
    clock.advance(seconds=(DEADLINE - clock()).total_seconds() + 1)
    worker.lanes["timers"][0].run_once()
    breach = store.clocks.story(lead)[-1]
    assert breach["kind"] == "breach" and json.loads(breach["details"])["reassign"] == ["salesforce"]
    clock.advance(minutes=1)
    drain(worker.lanes["salesforce"][0])  # the reassign, and the breach's Task for the owner (shipped: task: true)
    assert [object for object, *_ in salesforce.created] == ["Task"]
    assert salesforce.calls == [("Lead", "HubSpot_Contact_Id__c", [{"HubSpot_Contact_Id__c": "501",
                                                                    "OwnerId": QUEUE}])]
    clock.advance(minutes=1)
    worker.lanes["timers"][0].run_once()
    drain(worker.lanes["salesforce"][0])
    assert len(salesforce.calls) == 1 and len(salesforce.created) == 1  # once
    with caplog.at_level("INFO"):
        worker.lanes["slack"][0].run_once()
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SLA breach")]
    assert "reassigned in salesforce" in line


def test_a_breach_reaches_hubspot_as_bridge_sla_status_breached(app, store, clock):
    from tests.feedback.test_stage import FakeHubSpot

    services = app.extensions["bridge"]
    hubspot = FakeHubSpot(services.connectors["hubspot"])
    worker = make_worker(app, clock, connectors={**services.connectors, "hubspot": hubspot})
    handed_off(store, clock)
    clock.advance(seconds=(DEADLINE - clock()).total_seconds() + 1)
    worker.lanes["timers"][0].run_once()
    clock.advance(minutes=1)
    worker.lanes["hubspot"][0].run_once()
    assert [call[-1].get("bridge_sla_status") for call in hubspot.calls] == ["breached"]
