"""End to end over loopback: the sandbox sends signed webhooks to a real `bridge serve`; records land in
both sandboxes and the write-back in HubSpot. This is what `bridge demo` runs."""

from datetime import UTC, datetime

import pytest
import requests
from click.testing import CliRunner

from bridge.demo import DEMO_LEADS, activities_of, demo, report, running_stack

pytestmark = pytest.mark.slow


def test_webhook_to_records_in_both_sandboxes_and_write_back(tmp_path):
    leads = DEMO_LEADS[:3]  # handed off, not yet, handed off (by HubSpot id)
    with running_stack(tmp_path) as stack:
        ids = stack.create_contacts([{"lastname": lead.lastname, "firstname": lead.firstname, "email": lead.email,
                                      "company": lead.company, "jobtitle": lead.jobtitle, "industry": lead.industry,
                                      "numemployees": lead.numemployees} for lead in leads])
        stack.settle()
        assert stack.sandbox.sandbox.deliveries  # the creation webhooks went out, signed, and were accepted
        stack.post_activities(activities_of(leads, ids, datetime.now(UTC)))
        stack.settle()
        handed = [ids[0], ids[2]]
        sf = {r["HubSpot_Contact_Id__c"]: r for r in stack.sandbox.sandbox.salesforce.store.all()}
        assert sorted(sf) == sorted(handed)
        kintone = requests.get(f"{stack.sandbox.base_url}/_sandbox/kintone/apps/1/records", timeout=10).json()
        assert len(kintone if isinstance(kintone, list) else kintone["records"]) == 2
        for contact in handed:
            props = requests.get(f"{stack.sandbox.base_url}/_sandbox/hubspot/contacts/{contact}",
                                 timeout=10).json()["properties"]
            assert props["lifecyclestage"] == "marketingqualifiedlead"
            assert props["salesforce_lead_id"] == sf[contact]["Id"] and props["kintone_record_id"]
        # The write-back's own webhooks came back and were recognised as echoes.
        echoes = stack.store.changes.count("echo")
        assert echoes >= 2
        lines = report(stack, leads, ids, kintone=True)
        assert not any(line.startswith("\nUNEXPECTED") for line in lines)


def test_bridge_demo_command_reports_every_expected_outcome():
    result = CliRunner().invoke(demo, [], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "UNEXPECTED" not in result.output
    assert f"Leads: {len(DEMO_LEADS)} — handed off 6, not yet 5, excluded 3" in result.output
    assert "used, 4 minimum" in result.output
    # the way back and the SLA story: each reached HubSpot
    assert "disqualified for No Budget → HubSpot reason '予算なし / No budget', lifecycle other" in result.output
    assert "HubSpot lifecycle customer, bridge_deal_amount 1200000" in result.output
    assert "recycled to marketing: lifecycle lead, reason '連絡不通 / Unreachable', Salesforce Status Recycled" in \
        result.output
    assert "breached     started → reminder → breach" in result.output
    assert "reminded     started → reminder → touched" in result.output
    # who was called on, named from the owner Bridge read off the Lead; the owner's to-do in Salesforce
    assert "reminded (owner 山田 営業) before the deadline, then an email → first touch in time" in result.output
    assert "escalated to owner 山田 営業, manager 佐藤 部長" in result.output
    assert "a Salesforce Task for the owner: 「初回連絡の期限を過ぎました / First-touch deadline missed」" in \
        result.output
    # the reconciliation: the planted drift found, what the mappings settle repaired, the rest left to a person
    assert "bridge reconcile: 4 drift — 1 deleted, 2 differs, 1 duplicate; --doit would repair 2, a person must " \
        "decide 2; nothing changed" in result.output
    assert "bridge reconcile --doit --force: repaired 2; Salesforce and kintone hold the new phone" in result.output
