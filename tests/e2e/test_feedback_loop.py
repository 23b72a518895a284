"""The way back, end to end over loopback: leads handed off to the Salesforce and kintone sandboxes, then reps act
there through the sandbox's control API (status changes, a logged call, a conversion, a won deal); the sandbox sends
real-shaped outbound messages and webhooks to a real `bridge serve`, which writes what sales did to the HubSpot
sandbox's contacts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests

from bridge.demo import DEMO_LEADS, Stack, activities_of, running_stack
from tests.e2e.serving import wait_until

pytestmark = pytest.mark.slow

HANDED_OFF = (DEMO_LEADS[0], DEMO_LEADS[2], DEMO_LEADS[4])  # the shipped rules hand these three off
SECONDS = 30  # per step: webhook → inbox → records read again → HubSpot written


class Control:
    """The sandbox's control API: where the reps act and HubSpot is read."""

    def __init__(self, stack: Stack):
        self.base = f"{stack.sandbox.base_url}/_sandbox"

    def call(self, method: str, path: str, **body) -> dict | list:
        reply = requests.request(method, self.base + path, json=body or None, timeout=10)
        assert reply.ok, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json()

    def contact(self, contact_id: str) -> dict:
        return self.call("GET", f"/hubspot/contacts/{contact_id}")["properties"]


def hand_off(stack: Stack) -> list[str]:
    ids = stack.create_contacts([{"lastname": lead.lastname, "firstname": lead.firstname, "email": lead.email,
                                  "company": lead.company, "jobtitle": lead.jobtitle, "industry": lead.industry,
                                  "numemployees": lead.numemployees} for lead in HANDED_OFF])
    stack.settle()
    stack.post_activities(activities_of(HANDED_OFF, ids, datetime.now(UTC)))
    stack.settle()
    return ids


def reaches(control: Control, contact_id: str, what: str, **expected) -> dict:
    """Wait until the HubSpot contact holds every expected property value."""
    def holds() -> dict | None:
        properties = control.contact(contact_id)
        return properties if all(properties.get(k) == v for k, v in expected.items()) else None

    return wait_until(holds, SECONDS, f"{what} did not reach HubSpot contact {contact_id} ({expected})")


def test_what_reps_do_in_salesforce_and_kintone_reaches_hubspot(tmp_path):
    with running_stack(tmp_path, extra_env={"BRIDGE_POLL_SECONDS": "0.05"}) as stack:
        disqualified, lost, won = hand_off(stack)
        control = Control(stack)
        leads = {lead["HubSpot_Contact_Id__c"]: lead["Id"] for lead in control.call("GET", "/salesforce/leads")}
        records = {r["hubspot_contact_id"]["value"]: r["$id"]["value"]
                   for r in control.call("GET", "/kintone/apps/1/records")}
        assert set(leads) == set(records) == {disqualified, lost, won}

        # Salesforce: a rep works the Lead, then disqualifies it for no budget.
        control.call("PATCH", f"/salesforce/leads/{leads[disqualified]}", fields={"Status": "Working - Contacted"})
        touched = reaches(control, disqualified, "Working - Contacted", hs_lead_status="IN_PROGRESS")
        assert touched["bridge_first_touch_at"]
        control.call("PATCH", f"/salesforce/leads/{leads[disqualified]}",
                     fields={"Status": "Closed - Not Converted", "Disqualification_Reason__c": "No Budget"})
        reaches(control, disqualified, "Closed - Not Converted", hs_lead_status="UNQUALIFIED", lifecyclestage="other",
                bridge_sales_outcome="disqualified", bridge_sales_reason="予算なし / No budget")

        # kintone: the process-management status moves to 商談化, then to 失注 with the reason typed in.
        record = control.call("POST", f"/kintone/apps/1/records/{records[lost]}/status", status="商談化")
        assert record["ステータス"] == {"type": "STATUS", "value": "商談化"}
        reaches(control, lost, "kintone 商談化", hs_lead_status="OPEN_DEAL", lifecyclestage="salesqualifiedlead",
                bridge_sales_outcome="qualified")
        control.call("POST", f"/kintone/apps/1/records/{records[lost]}/status", status="失注",
                     fields={"失注理由": "予算なし"})
        closed = reaches(control, lost, "kintone 失注", hs_lead_status="UNQUALIFIED", bridge_sales_outcome="lost",
                         bridge_sales_reason="予算なし / No budget")
        assert closed["bridge_lost_at"]

        # Salesforce: a connected call, the Lead converted, its Opportunity won.
        control.call("POST", "/salesforce/tasks", records=[{
            "WhoId": leads[won], "TaskSubtype": "Call", "CallDisposition": "Connected", "Subject": "Call",
            "Status": "Completed"}])
        reaches(control, won, "a connected call", hs_lead_status="CONNECTED")
        lead = control.call("POST", f"/salesforce/leads/{leads[won]}/convert",
                            opportunity={"Name": "Sample 2026", "Amount": 1200000})
        reaches(control, won, "the conversion", lifecyclestage="opportunity", bridge_sales_outcome="converted")
        control.call("PATCH", f"/salesforce/opportunities/{lead['ConvertedOpportunityId']}",
                     fields={"StageName": "Closed Won"})
        deal = reaches(control, won, "the won Opportunity", lifecyclestage="customer", bridge_sales_outcome="won")
        assert float(deal["bridge_deal_amount"]) == 1200000 and deal["bridge_won_at"]

        told = {contact: [e["kind"] for e in stack.store.sales.events(stack.store.leads.find(hubspot_id=contact)["id"])]
                for contact in (disqualified, lost, won)}
        assert told == {disqualified: ["contacted", "disqualified"], lost: ["qualified", "lost"],
                        won: ["connected", "converted", "won"]}


def test_kintone_changes_past_its_notifications_a_minute_reach_hubspot_by_the_catch_up_poll(tmp_path):
    with running_stack(tmp_path, extra_env={"BRIDGE_POLL_SECONDS": "0.05", "BRIDGE_CATCHUP_SECONDS": "2"}) as stack:
        contacts = hand_off(stack)
        control = Control(stack)
        records = {r["hubspot_contact_id"]["value"]: r["$id"]["value"]
                   for r in control.call("GET", "/kintone/apps/1/records")}
        # kintone notifies 60 changes a minute per domain; here 1, so two of three reps' changes send nothing.
        stack.sandbox.sandbox.config.kintone.webhooks_per_minute = 1
        for contact in contacts:
            control.call("POST", f"/kintone/apps/1/records/{records[contact]}/status", status="商談化")
        log = control.call("GET", "/webhooks?system=kintone")["deliveries"]
        assert sum(1 for e in log if "not sent" in (e.get("error") or "")) == 2
        for contact in contacts:
            reaches(control, contact, "kintone 商談化", hs_lead_status="OPEN_DEAL", bridge_sales_outcome="qualified")
        told = [[e["kind"] for e in stack.store.sales.events(stack.store.leads.find(hubspot_id=c)["id"])]
                for c in contacts]
        assert told == [["qualified"]] * 3  # once each, whether it came by webhook or by the poll


def test_three_unanswered_calls_logged_in_kintones_follow_up_table_are_three_attempts_in_hubspot(tmp_path):
    with running_stack(tmp_path, extra_env={"BRIDGE_POLL_SECONDS": "0.05"}) as stack:
        contact = hand_off(stack)[1]
        control = Control(stack)
        record = next(r["$id"]["value"] for r in control.call("GET", "/kintone/apps/1/records")
                      if r["hubspot_contact_id"]["value"] == contact)
        # The rep calls three times and nobody answers: three rows in 対応履歴, the status stays where it is.
        for memo in ("1回目", "2回目", "3回目"):
            reply = requests.post(f"{control.base}/kintone/apps/1/records/{record}/log", timeout=10,
                                  json={"method": "電話", "result": "不在", "memo": memo})
            assert reply.ok, reply.text
            logged = reply.json()
        assert [row["value"]["メモ"]["value"] for row in logged["対応履歴"]["value"]] == ["1回目", "2回目", "3回目"]
        assert logged["ステータス"]["value"] == "未対応"
        touched = reaches(control, contact, "three unanswered calls", hs_lead_status="ATTEMPTED_TO_CONTACT")
        assert touched["bridge_first_touch_at"]
        lead_id = stack.store.leads.find(hubspot_id=contact)["id"]
        wait_until(lambda: len(stack.store.sales.events(lead_id)) >= 3 or None, SECONDS, "three sales events")
        events = stack.store.sales.events(lead_id)
        assert [(e["kind"], e["system"]) for e in events] == [("attempted", "kintone")] * 3
        assert len({json.loads(e["details"])["row"] for e in events}) == 3  # one per row of the log
