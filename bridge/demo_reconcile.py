"""The last part of `bridge demo`: drift planted the way it happens (a HubSpot edit whose webhook was lost, a kintone
record deleted by hand, a duplicate typed into Salesforce), then `bridge reconcile` finds it, and repairs with --doit
what the mappings can settle, leaving the rest to a person."""

from __future__ import annotations

import json
import time
from collections import Counter

from bridge.demo_way_back import Rep, wait_for

NEW_PHONE = "03-5555-0101"


def reconcile_story(stack, kintone: bool) -> list[str]:
    """Plant drift on one handed-off lead, reconcile, repair; returns the story's lines."""
    rep = Rep(f"{stack.sandbox.base_url}/_sandbox")
    leads = rep.call("GET", "/salesforce/leads")
    lead = next(r for r in leads if r.get("HubSpot_Contact_Id__c") and not r.get("IsConverted"))
    contact = lead["HubSpot_Contact_Id__c"]
    rep.call("PATCH", f"/hubspot/contacts/{contact}?webhooks=false", {"properties": {"phone": NEW_PHONE}})
    rep.call("POST", "/salesforce/leads", {"webhooks": False, "records": [
        {"LastName": lead["LastName"], "Company": lead["Company"], "Email": lead["Email"]}]})
    planted = ["a HubSpot phone change whose webhook was lost", "a duplicate typed into Salesforce"]
    if kintone:
        other = next(r for r in rep.call("GET", "/kintone/apps/1/records")
                     if r["hubspot_contact_id"]["value"] not in ("", contact))
        rep.call("DELETE", f"/kintone/apps/1/records/{other['$id']['value']}?webhooks=false")
        planted.append("a kintone record deleted by hand")
    lines = ["", "Nightly reconciliation (run now): planted " + ", ".join(planted) + "."]

    plan = _reconcile(stack)
    kinds = Counter(item["kind"] for item in plan["items"])
    lines.append(f"  bridge reconcile: {sum(kinds.values())} drift — " + ", ".join(
        f"{n} {kind}" for kind, n in sorted(kinds.items())) + f"; --doit would repair {plan['summary']['to_repair']}, "
        f"a person must decide {plan['summary']['needs_person']}; nothing changed")
    started = time.monotonic()
    done = _reconcile(stack, "--doit", "--force")
    wait_for("the repair to reach Salesforce",
             lambda: rep.call("GET", f"/salesforce/leads/{lead['Id']}").get("Phone") == NEW_PHONE)
    if kintone:
        wait_for("the repair to reach kintone", lambda: any(
            r["hubspot_contact_id"]["value"] == contact and r["phone"]["value"] == NEW_PHONE
            for r in rep.call("GET", "/kintone/apps/1/records")))
    took = time.monotonic() - started
    stack.settle()  # the repairs' own webhooks (echoes) come back after them: nothing is left in flight at the end
    lines.append(f"  bridge reconcile --doit --force: repaired {done['summary']['repaired']}; "
                 f"{'Salesforce and kintone hold' if kintone else 'Salesforce holds'} the new phone "
                 f"{took:.1f} s later; the rest is on the report at /admin/reconcile")
    return lines


def _reconcile(stack, *args: str) -> dict:
    done = stack.command("reconcile", "--full", "--format", "json", "--quiet", *args)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"bridge reconcile failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)
