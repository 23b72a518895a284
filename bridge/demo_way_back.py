"""The second half of `bridge demo`: reps act in the sandboxes (a call, an email, unanswered calls, a
disqualification for 予算なし, a conversion and a won deal) and the SLA clocks run on a policy measured in seconds;
the story printed is what reached HubSpot, and how long after the rep acted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from bridge.kernel.clock import utcnow
from bridge.sla.load import check_sla_text

#: The demo's SLA policy: seconds on a calendar that never closes, so the story fits in half a minute.
DEMO_SLA = """\
# bridge demo: 秒単位のポリシー、24 時間営業のカレンダー / a policy in seconds on a calendar that never closes
calendar:
  hours: {opens: "00:00", closes: "24:00"}
  workdays: [月, 火, 水, 木, 金, 土, 日]
  year_end: false
  national_holidays: false
policies:
  - name: demo
    first_touch: 20 seconds
    reminders: [{before: 10 seconds, to: [owner]}]
    escalation: {to: [owner, manager, channel], task: true}
    follow_up: {attempts: 3, spacing: 1 seconds, reason: unreachable}
owners:
  '005DEMO0000000001': {name: 山田 営業, manager: '005DEMO0000000009'}
  '005DEMO0000000009': {name: 佐藤 部長}
owner_fields: {salesforce: OwnerId}
recycle:
  salesforce: {Status: Recycled}
"""
SLA_RULES = check_sla_text(DEMO_SLA, "sla.yaml")[0]
WAIT = 60.0  # seconds any one step may take before the demo says it did not happen


@dataclass
class Rep:
    """A sales rep at the sandbox's record pages (its control API), as a user clicks."""

    control: str  # the sandbox's /_sandbox URL

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        reply = requests.request(method, f"{self.control}{path}", json=body, timeout=30)
        reply.raise_for_status()
        return reply.json() if reply.content else {}

    def leads_by_contact(self) -> dict[str, str]:
        """Salesforce Lead ids by the HubSpot contact id Bridge wrote into them."""
        return {r["HubSpot_Contact_Id__c"]: r["Id"] for r in self.call("GET", "/salesforce/leads")
                if r.get("HubSpot_Contact_Id__c")}

    def log_call(self, lead: str, result: str, kind: str = "Call") -> None:
        self.call("POST", "/salesforce/tasks", {"records": [{
            "WhoId": lead, "TaskSubtype": kind, "CallDisposition": result if kind == "Call" else None,
            "Subject": f"{kind} ({result})", "Status": "Completed"}]})

    def contact(self, contact: str) -> dict:
        return self.call("GET", f"/hubspot/contacts/{contact}")["properties"]


def wait_for(what: str, done: Callable[[], bool], timeout: float = WAIT) -> float:
    """Seconds until `done()`; RuntimeError naming `what` after `timeout`."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the demo waited {timeout:.0f} s for {what}; see bridge.log")
        time.sleep(0.1)
    return time.monotonic() - started


def way_back(stack, handed: list[str]) -> list[str]:
    """Six handed-off contacts (HubSpot ids) get a rep each; returns the story's lines."""
    rep = Rep(f"{stack.sandbox.base_url}/_sandbox")
    sf = rep.leads_by_contact()
    in_time, reminded, breached, unanswered, no_budget, won = handed[:6]
    for contact in (in_time, reminded, breached, unanswered, no_budget, won):  # as assignment rules would
        rep.call("PATCH", f"/salesforce/leads/{sf[contact]}", {"fields": {"OwnerId": "005DEMO0000000001"}})
    lines = ["", "The way back (reps act in the sandboxes; an SLA policy of 20 seconds, reminder 10 s before):"]

    def heard(contact: str, prop: str, value: str) -> Callable[[], bool]:
        return lambda: rep.contact(contact).get(prop) == value

    def sla_entries(contact: str) -> list[str]:
        lead = stack.store.leads.find(hubspot_id=contact)
        return [e["kind"] for e in stack.store.clocks.story(lead["id"])] if lead else []

    def sla_details(contact: str, kind: str) -> dict:
        """What the clock's log says of its `kind` entry (the deadline, who was called on, in time or not)."""
        lead = stack.store.leads.find(hubspot_id=contact)
        entry = next(e for e in stack.store.clocks.story(lead["id"]) if e["kind"] == kind)
        return json.loads(entry["details"]) if entry["details"] else {}

    def called_on(contact: str, roles: list[str]) -> str:
        """`owner 山田 営業, manager 佐藤 部長`: the roles a notice called on, named as sla.yaml names them."""
        lead = stack.store.leads.find(hubspot_id=contact)
        owner_id = (stack.store.leads.record_fields(lead["id"], "salesforce", "Lead") or {}).get("OwnerId")
        owner = SLA_RULES.owners.get(owner_id)
        manager = SLA_RULES.owners.get(owner.manager) if owner and owner.manager else None
        names = {"owner": owner.name if owner else "(none)", "manager": manager.name if manager else "(none)",
                 "channel": "the Slack channel (a log line without Slack)"}
        return ", ".join(f"{role} {names[role]}" if role != "channel" else names[role] for role in roles)

    rep.log_call(sf[in_time], "Connected")
    took = wait_for("the connected call to reach HubSpot", heard(in_time, "bridge_sla_status", "met"))
    lines.append(f"  call connected → HubSpot hs_lead_status / SLA met, {took:.1f} s after the rep logged it")

    rep.call("PATCH", f"/salesforce/leads/{sf[no_budget]}", {"fields": {
        "Status": "Closed - Not Converted", "Disqualification_Reason__c": "No Budget"}})
    took = wait_for("the disqualification to reach HubSpot", heard(no_budget, "bridge_sales_outcome", "disqualified"))
    shown = rep.contact(no_budget)
    lines.append(f"  disqualified for No Budget → HubSpot reason {shown.get('bridge_sales_reason')!r}, lifecycle "
                 f"{shown.get('lifecyclestage')}, {took:.1f} s after")

    converted = rep.call("POST", f"/salesforce/leads/{sf[won]}/convert",
                         {"opportunity": {"Name": "Bridge demo deal", "Amount": 1200000}})
    wait_for("the conversion to reach HubSpot", heard(won, "lifecyclestage", "opportunity"))
    acted = time.monotonic()
    rep.call("PATCH", f"/salesforce/opportunities/{converted['ConvertedOpportunityId']}",
             {"fields": {"StageName": "Closed Won", "Amount": 1200000}})
    wait_for("the won deal to reach HubSpot", heard(won, "lifecyclestage", "customer"))
    lines.append(f"  converted, then won ¥1,200,000 → HubSpot lifecycle customer, bridge_deal_amount "
                 f"{rep.contact(won).get('bridge_deal_amount')}, {time.monotonic() - acted:.1f} s after the win")

    for _ in range(3):  # three calls nobody answers, a second or more apart
        rep.log_call(sf[unanswered], "No Answer")
        time.sleep(1.2)
    took = wait_for("the recycle to reach HubSpot", heard(unanswered, "bridge_sla_status", "recycled"))
    # Salesforce is written in its own lane, beside HubSpot's: wait for it too before saying what it holds
    wait_for("the recycle to reach Salesforce", lambda: _status(rep, sf[unanswered]) == "Recycled")
    shown = rep.contact(unanswered)
    lines.append(f"  3 unanswered calls → recycled to marketing: lifecycle {shown.get('lifecyclestage')}, reason "
                 f"{shown.get('bridge_sales_reason')!r}, Salesforce Status {_status(rep, sf[unanswered])}")

    wait_for("the reminder", lambda: "reminder" in sla_entries(reminded))
    rep.log_call(sf[reminded], "Left message", kind="Email")
    wait_for("the email to stop the clock", lambda: "touched" in sla_entries(reminded))
    reminder, touched = sla_details(reminded, "reminder"), sla_details(reminded, "touched")
    lines.append(f"  reminded ({called_on(reminded, reminder.get('to') or [])}) before the deadline, then an email → "
                 f"first touch {'in time' if touched.get('in_time') else 'after the deadline'}")

    wait_for("the breach", lambda: "breach" in sla_entries(breached))
    breach = sla_details(breached, "breach")
    wait_for("the owner's Salesforce Task", lambda: any(
        t.get("WhoId") == sf[breached] for t in rep.call("GET", "/salesforce/tasks")))
    task = next(t for t in rep.call("GET", "/salesforce/tasks") if t.get("WhoId") == sf[breached])
    escalated = called_on(breached, breach.get("to") or [])
    lines.append(f"  nobody called → breached at its deadline; escalated to {escalated}; a Salesforce Task for the "
                 f"owner: 「{task.get('Subject')}」")

    lines.append("\nSLA clocks (business time on the demo calendar):")
    for name, contact in (("in time", in_time), ("reminded", reminded), ("breached", breached),
                          ("unanswered", unanswered), ("disqualified", no_budget), ("won", won)):
        lines.append(f"  {name:<12} {' → '.join(sla_entries(contact))}")
    lines.append(f"(as of {utcnow():%H:%M:%S} UTC; the lead pages at /admin show each story)")
    return lines


def _status(rep: Rep, lead: str) -> str:
    return str(rep.call("GET", f"/salesforce/leads/{lead}").get("Status"))
