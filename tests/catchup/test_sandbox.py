"""The catch-up poll end to end over loopback: a rep's kintone status change and a Salesforce Lead status change
made with their webhooks lost (the sandbox's `"webhooks": false`) reach the HubSpot contact through the poll of a
real `bridge serve`, and each sales event is told once."""

from __future__ import annotations

import json

import pytest

from bridge.demo import running_stack
from tests.e2e.test_feedback_loop import Control, hand_off, reaches

pytestmark = pytest.mark.slow


def test_changes_whose_webhooks_were_lost_reach_hubspot_through_the_poll(tmp_path):
    env = {"BRIDGE_POLL_SECONDS": "0.05", "BRIDGE_CATCHUP_SECONDS": "2"}
    with running_stack(tmp_path, extra_env=env) as stack:
        by_kintone, by_salesforce, _ = hand_off(stack)
        control = Control(stack)
        leads = {lead["HubSpot_Contact_Id__c"]: lead["Id"] for lead in control.call("GET", "/salesforce/leads")}
        records = {r["hubspot_contact_id"]["value"]: r["$id"]["value"]
                   for r in control.call("GET", "/kintone/apps/1/records")}

        saved = control.call("POST", f"/kintone/apps/1/records/{records[by_kintone]}/status", status="対応中",
                             webhooks=False)
        reaches(control, by_kintone, "a kintone status change without its webhook", hs_lead_status="IN_PROGRESS")
        control.call("PATCH", f"/salesforce/leads/{leads[by_salesforce]}", fields={"Status": "Working - Contacted"},
                     webhooks=False)
        reaches(control, by_salesforce, "a Lead status change without its outbound message",
                hs_lead_status="IN_PROGRESS")

        delivered = [json.loads(d["body"]) for d in control.call("GET", "/webhooks")["deliveries"]
                     if d["system"] == "kintone"]
        revision = saved["$revision"]["value"]
        assert not [d for d in delivered if d.get("record", {}).get("$revision", {}).get("value") == revision
                    and d["record"]["$id"]["value"] == records[by_kintone]]  # it came by the poll alone
        told = {contact: [e["kind"] for e in stack.store.sales.events(stack.store.leads.find(hubspot_id=contact)["id"])]
                for contact in (by_kintone, by_salesforce)}
        assert told == {by_kintone: ["contacted"], by_salesforce: ["contacted"]}
