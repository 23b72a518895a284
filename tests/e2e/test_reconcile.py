"""Reconciliation end to end over loopback: leads handed off to the Salesforce and kintone sandboxes, then drift
planted the way it happens (a rep's edit and a HubSpot edit whose webhooks were lost, a record deleted in kintone, a
duplicate typed in by hand, a record carrying a HubSpot id no lead has); `bridge reconcile` finds each, changes
nothing without --doit, refuses a plan that changes too much, and with --doit --force repairs exactly what it said,
leaving what a person must decide."""

from __future__ import annotations

import json

import pytest
import requests

from bridge.demo import running_stack
from tests.e2e.serving import wait_until
from tests.e2e.test_feedback_loop import Control, hand_off

pytestmark = pytest.mark.slow
#: The sandbox's endpoints that change records: a plan must call none of them.
WRITES = ("hubspot.batch_update", "hubspot.batch_upsert", "hubspot.create", "salesforce.upsert",
          "kintone.records_add", "kintone.records_update", "kintone.record_add", "kintone.record_update")


def found(stack, *args: str) -> tuple[int, dict]:
    done = stack.command("reconcile", "--format", "json", "--quiet", *args)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict) -> list[tuple[str, str, str | None]]:
    return sorted((i["kind"], i["system"], i.get("field")) for i in report["items"])


def test_planted_drift_is_found_then_repaired_only_when_told(tmp_path):
    with running_stack(tmp_path, extra_env={"BRIDGE_POLL_SECONDS": "0.05"}) as stack:
        hand_off(stack)
        control = Control(stack)
        code, report = found(stack, "--full")
        assert (code, report["items"]) == (0, [])  # freshly handed off: the systems agree

        leads = control.call("GET", "/salesforce/leads")
        kintone = control.call("GET", "/kintone/apps/1/records")
        edited, moved = leads[0], leads[1]
        control.call("PATCH", f"/salesforce/leads/{edited['Id']}", fields={"Company": "手で変えた会社"}, webhooks=False)
        control.call("PATCH", f"/hubspot/contacts/{moved['HubSpot_Contact_Id__c']}?webhooks=false",
                     properties={"company": "新しい社名"})
        gone = kintone[2]["$id"]["value"]
        assert requests.delete(f"{control.base}/kintone/apps/1/records/{gone}?webhooks=false", timeout=10).ok
        control.call("POST", "/salesforce/leads", webhooks=False,
                     records=[{"LastName": "重複", "Company": "手入力", "Email": edited["Email"]},
                              {"LastName": "孤児", "Company": "不明", "HubSpot_Contact_Id__c": "999999"}])
        before = control.call("GET", "/calls")

        code, plan = found(stack, "--full")
        assert kinds(plan) == [("deleted", "kintone", None), ("differs", "kintone", "company"),
                               ("differs", "salesforce", "Company"), ("differs", "salesforce", "Company"),
                               ("duplicate", "salesforce", None), ("orphan", "salesforce", None)]
        assert control.call("GET", f"/salesforce/leads/{edited['Id']}")["Company"] == "手で変えた会社"  # a plan reads
        after = control.call("GET", "/calls")
        assert [e for e in WRITES if after.get(e) != before.get(e)] == []

        code, refused = found(stack, "--doit")  # 3 leads of 5 records: far more than 5 %
        assert code == 3 and refused["summary"]["run"]["status"] == "refused"

        code, applied = found(stack, "--doit", "--force")
        assert code == 0 and applied["summary"]["run"]["status"] == "applied" and applied["summary"]["repaired"] == 3
        stack.settle()
        wait_until(lambda: control.call("GET", f"/salesforce/leads/{edited['Id']}")["Company"] != "手で変えた会社",
                   30, "the repair did not reach Salesforce")
        repaired = control.call("GET", "/calls")
        assert [e for e in ("salesforce.upsert", "kintone.records_update") if repaired.get(e) == before.get(e)] == []
        code, after = found(stack, "--full")
        assert kinds(after) == [("deleted", "kintone", None), ("duplicate", "salesforce", None),
                                ("orphan", "salesforce", None)]  # what only a person can settle stays


def test_a_run_killed_half_way_is_run_again_to_the_end(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    with running_stack(tmp_path) as stack:
        control = Control(stack)
        # 20,000 kintone records made by an import (no webhooks), none of them a lead's: reading them takes a while
        control.call("POST", "/bulk", system="kintone", object="1",
                     records=[{"email": f"import{n}@example.jp", "company": "インポート"} for n in range(20_000)])
        child = subprocess.Popen([sys.executable, "-m", "bridge", "reconcile", "--full", "--quiet"],  # noqa: S603
                                 cwd=stack.folder, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        def reading() -> bool:  # its run is open and it has read a few of kintone's 40 pages
            reads = (control.call("GET", "/calls").get("kintone.records_read") or {}).get("calls", 0)
            return bool(stack.store.reconciliations.runs()) and reads >= 5 or None

        wait_until(reading, 60, "the reconciliation never started reading kintone")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        (killed,) = stack.store.reconciliations.runs()
        assert killed["status"] == "running"
        code, report = found(stack, "--full")
        assert code == 0 and report["summary"]["run"]["status"] == "planned"
        assert stack.store.reconciliations.run(killed["id"])["status"] == "interrupted"
        assert {"system": "kintone", "records": 20_000} in report["summary"]["compared"]  # read to the end
