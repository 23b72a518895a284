"""Reconciliation benchmark: a full plan against the sandbox holding N records per system with 1 % planted drift,
and the compare step alone on a million records per side.

Full plan (`bridge reconcile --full --format json` in a child process, against the sandbox over loopback):
  seed      N HubSpot contacts, and the Salesforce Leads and kintone records the routes make of them (written as
            Bridge would have written them), imported without webhooks; N handed-off leads in Bridge's store,
            linked to both;
  drift     1 % of N planted through the sandbox's control API, webhooks lost: reps' edits in Salesforce and kintone,
            HubSpot edits, deletes in Salesforce (getDeleted) and kintone (found by the id scan), duplicates typed
            into Salesforce, and Salesforce records carrying a HubSpot id no lead has;
  reported  wall time and the child's peak memory (maxrss), API calls per system against the paging minimum
            (HubSpot ⌈N/100⌉ batch reads, Salesforce ⌈records/2000⌉ queries, kintone ⌈records/500⌉ pages), drift
            found against drift planted, and false drift (found, never planted).
  The HubSpot connector runs at HUBSPOT_TIER=professional (190 calls / 10 s; HubSpot's own Salesforce integration
  needs Professional), and a reconciliation may use half of it: the reads' floor is ⌈N/100⌉ / 8.5 calls a second.

Compare step (pure, in this process): plan_reconciliation over M synthetic leads, contacts and Salesforce Leads with
1 % drift; the baseline, measured in the same run, is the least any compare must do: one dict look-up and one
equality per mapped field of each record pair, with the values already mapped.

Run: .venv/bin/python -m bench.reconcile [--records 100000] [--compare 1000000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from bridge.config import SHIPPED_MAPPINGS
from bridge.demo import copy_mappings
from bridge.kernel.clock import iso
from bridge.mapping import apply_route, load_routes
from bridge.mapping.record import route_input
from bridge.reconcile.plan import LeadState, SideRecords, plan_reconciliation
from bridge.store import Store
from connectors.sandbox import Sandbox
from connectors.sandbox.server import serve

SF_ROUTE, KINTONE_ROUTE = "hubspot-contact-to-salesforce-lead", "hubspot-contact-to-kintone"
KINTONE_APP = "1"
TARGETS = {"seconds": 180.0, "megabytes": 200.0, "compare_seconds": 10.0}
#: The planted drift, per 1 % of N: (what, share of the planted items, the drift kinds it causes per item).
PLANT = (("sf_edit", 0.3), ("kintone_edit", 0.2), ("hubspot_edit", 0.1), ("sf_delete", 0.1),
         ("kintone_delete", 0.1), ("duplicate", 0.1), ("orphan", 0.1))
T0 = datetime(2026, 11, 20, tzinfo=UTC)
#: `bridge ARGS` in a child that prints its peak memory (VmHWM, kB) last on stderr. Not the child's ru_maxrss: Linux
#: carries the forking parent's high-water mark over into it, and this process holds the seeded records.
PEAK_MEMORY = ("import atexit, runpy, sys\n"
               "def peak():\n"
               "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
               "    print(hwm, file=sys.stderr)\n"
               "atexit.register(peak)\n"
               "sys.argv = ['bridge', *sys.argv[1:]]\n"
               "runpy.run_module('bridge', run_name='__main__')\n")


def contact(n: int) -> dict:
    return {"email": f"lead{n}@bench-{n % 97}.example", "lastname": f"テスト{n}", "firstname": "太郎",
            "company": f"ベンチ株式会社{n % 97}", "jobtitle": "部長", "phone": f"03-{n % 10000:04d}-{n % 7919:04d}",
            "industry": "SaaS", "numemployees": "100-500", "bridge_score": "120", "bridge_stage": "consideration",
            "bridge_temperature": "hot"}


def bridge_values(hubspot_id: str, email: str) -> dict:
    return {"hubspot_id": hubspot_id, "email": email, "score": 120, "stage": "consideration", "temperature": "hot",
            "handoff_reason": "pricing", "handed_off_at": iso(T0)}


def minimum_calls(leads: int, salesforce: int, kintone: int) -> dict[str, int]:
    """The paging minimum: HubSpot batch reads of 100, Salesforce query pages of 2,000, kintone pages of 500."""
    return {"hubspot": math.ceil(leads / 100), "salesforce": math.ceil(salesforce / 2000),
            "kintone": math.ceil(kintone / 500)}


def planted_counts(drift_items: int) -> dict[str, int]:
    """How many of each planting make `drift_items` drift items (a HubSpot edit makes two: one per target)."""
    counts = {what: int(drift_items * share) for what, share in PLANT}
    counts["hubspot_edit"] //= 2
    return counts


# -- the full plan --------------------------------------------------------------------------------------------------


@dataclass
class FullRun:
    seconds: float
    megabytes: float
    calls: dict[str, int]
    minimum: dict[str, int]
    planted: Counter
    found: Counter
    false: int
    missed: int
    report: dict = field(repr=False, default_factory=dict)


def _post(base: str, path: str, body: dict, method: str = "POST") -> dict:
    reply = requests.request(method, f"{base}/_sandbox{path}", json=body, timeout=600)
    reply.raise_for_status()
    return reply.json() if reply.content else {}


def seed(base: str, store: Store, env: dict, records: int) -> tuple[list[str], list[str], list[str]]:
    """N contacts in HubSpot, their Leads in Salesforce and records in kintone as the routes make them, and N
    handed-off leads in Bridge linked to all three."""
    routes = load_routes(Path(env["BRIDGE_MAPPINGS"]), env)
    contacts = [contact(n) for n in range(records)]
    hubspot_ids = _post(base, "/bulk", {"system": "hubspot", "object": "contacts", "records": contacts})["ids"]
    made = [route_input({**c, "hs_object_id": i}, bridge_values(i, c["email"])) for c, i in zip(contacts, hubspot_ids,
                                                                                              strict=True)]
    leads = [apply_route(routes[SF_ROUTE], r) for r in made]
    salesforce_ids = _post(base, "/bulk", {"system": "salesforce", "object": "leads", "records": leads})["ids"]
    apps = [apply_route(routes[KINTONE_ROUTE], r) for r in made]
    kintone_ids = _post(base, "/bulk", {"system": "kintone", "object": KINTONE_APP, "records": apps})["ids"]
    for start in range(0, records, 2000):
        chunk = range(start, min(records, start + 2000))
        with store.unit_of_work() as work:
            ids = [work.leads.create(hubspot_ids[n], contacts[n]["email"], 1, T0) for n in chunk]
            work.leads.save_records([(lead, 1, hubspot_ids[n], contacts[n]["email"],
                                      json.dumps({**contacts[n], "hs_object_id": hubspot_ids[n]}, ensure_ascii=False))
                                     for lead, n in zip(ids, chunk, strict=True)], T0)
            work.leads.save_decisions([(lead, 1, {"score": 120, "stage": "consideration", "temperature": "hot",
                                                  "qualifies": True, "excluded": None, "criterion": "pricing"},
                                        "pricing", T0) for lead in ids])
            work.leads.mark_many_handed_off([(lead, "pricing", "pricing") for lead in ids], T0)
            work.leads.link_records([link for lead, n in zip(ids, chunk, strict=True) for link in (
                (lead, "hubspot", "contacts", hubspot_ids[n], T0), (lead, "salesforce", "Lead", salesforce_ids[n], T0),
                (lead, "kintone", KINTONE_APP, kintone_ids[n], T0))])
    return hubspot_ids, salesforce_ids, kintone_ids


def plant(base: str, ids: tuple[list[str], list[str], list[str]], drift_items: int) -> Counter:
    """Plant the drift through the control API, every webhook lost; returns the drift items it makes, by kind."""
    hubspot_ids, salesforce_ids, kintone_ids = ids
    counts, planted, n = planted_counts(drift_items), Counter(), 0
    picks = iter(range(0, len(hubspot_ids), max(1, len(hubspot_ids) // (sum(planted_counts(drift_items).values())
                                                                          + 1))))
    for what, count in counts.items():
        for _ in range(count):
            n = next(picks)
            if what == "sf_edit":
                _post(base, f"/salesforce/leads/{salesforce_ids[n]}", {"fields": {"Company": "手で直した会社"},
                                                                       "webhooks": False}, "PATCH")
                planted["differs"] += 1
            elif what == "kintone_edit":
                _post(base, f"/kintone/apps/{KINTONE_APP}/records/{kintone_ids[n]}",
                      {"fields": {"company": "手で直した会社"}, "webhooks": False}, "PATCH")
                planted["differs"] += 1
            elif what == "hubspot_edit":
                _post(base, f"/hubspot/contacts/{hubspot_ids[n]}?webhooks=false",
                      {"properties": {"company": "新社名株式会社"}}, "PATCH")
                planted["differs"] += 2
            elif what == "sf_delete":
                _post(base, f"/salesforce/leads/{salesforce_ids[n]}?webhooks=false", {}, "DELETE")
                planted["deleted"] += 1
            elif what == "kintone_delete":
                _post(base, f"/kintone/apps/{KINTONE_APP}/records/{kintone_ids[n]}?webhooks=false", {}, "DELETE")
                planted["deleted"] += 1
            elif what == "duplicate":
                _post(base, "/salesforce/leads", {"webhooks": False, "records": [
                    {"LastName": "重複", "Company": "手入力", "Email": contact(n)["email"]}]})
                planted["duplicate"] += 1
            elif what == "orphan":
                _post(base, "/salesforce/leads", {"webhooks": False, "records": [
                    {"LastName": "孤児", "Company": "不明", "HubSpot_Contact_Id__c": f"9{n:09d}"}]})
                planted["orphan"] += 1
    return planted


def calls_by_system(before: dict, after: dict) -> dict[str, int]:
    """API calls per system between two snapshots of the sandbox's counters (token requests left out)."""
    calls: Counter = Counter()
    for endpoint, entry in after.items():
        made = entry["calls"] - (before.get(endpoint) or {}).get("calls", 0)
        if made and not endpoint.endswith(".token") and not endpoint.startswith("sandbox."):
            calls[endpoint.split(".")[0]] += made
    return dict(calls)


def full_run(records: int, drift: float) -> FullRun:
    folder = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))
    try:
        with serve(Sandbox()) as sandbox:
            base = sandbox.base_url
            env = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "HUBSPOT_", "SALESFORCE_",
                                                                             "KINTONE_"))}
            env.update(sandbox.sandbox.env())
            env.update({"BRIDGE_DB": str(folder / "bridge.db"),
                        "BRIDGE_MAPPINGS": str(copy_mappings(folder, kintone=True)),
                        "HUBSPOT_TIER": "professional", "KINTONE_APP_ID": KINTONE_APP, "BRIDGE_LOG_LEVEL": "WARNING"})
            store = Store(folder / "bridge.db")
            store.upgrade()
            ids = seed(base, store, env, records)
            planted = plant(base, ids, int(records * drift))
            sf_count = len(ids[1]) - planted["deleted"] // 2 + planted["duplicate"] + planted["orphan"]
            kintone_count = len(ids[2]) - planted["deleted"] // 2
            before = requests.get(f"{base}/_sandbox/calls", timeout=30).json()
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-c", PEAK_MEMORY, "reconcile", "--full", "--format", "json",  # noqa: S603
                                   "--quiet", "--output", str(folder / "report.json")], cwd=folder, env=env,
                                  capture_output=True, text=True, check=False)
            seconds = time.monotonic() - started
            if done.returncode != 0:
                raise RuntimeError(f"bridge reconcile failed: {done.stderr[-2000:]}")
            megabytes = int(done.stderr.strip().splitlines()[-1]) / 1024
            after = requests.get(f"{base}/_sandbox/calls", timeout=30).json()
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    found = Counter(item["kind"] for item in report["items"])
    false = sum(max(0, found[k] - planted[k]) for k in found)
    missed = sum(max(0, planted[k] - found[k]) for k in planted)
    return FullRun(seconds, megabytes, calls_by_system(before, after),
                   minimum_calls(records, sf_count, kintone_count), planted, found, false, missed, report)


# -- the compare step alone -----------------------------------------------------------------------------------------


def compare_inputs(count: int, drift: float):
    """`count` handed-off leads, their contacts and their Salesforce Leads as the route makes them, with `drift` of
    them planted (Company edited, missing, deleted, stale score; and as many orphans); returns the plan's inputs, the
    pre-mapped pairs the baseline compares, and the planted items by kind."""
    routes = load_routes(SHIPPED_MAPPINGS, {"KINTONE_APP_ID": KINTONE_APP})
    route = routes[SF_ROUTE]
    planted: Counter = Counter()
    every = max(4, int(4 / drift)) if drift else 0  # four kinds, each drift/4 of the records
    leads, contacts, records, pairs = [], {}, {}, []
    for n in range(count):
        hubspot_id, record_id = str(n + 1), f"00Q{n:015d}"
        props = {**contact(n), "hs_object_id": hubspot_id}
        contacts[hubspot_id] = props
        lead = LeadState(n + 1, hubspot_id, props["email"], iso(T0), 120, "consideration", "hot", "pricing",
                         records={("salesforce", "Lead"): (record_id, iso(T0))})
        leads.append(lead)
        payload = apply_route(route, route_input(props, lead.bridge_values()))
        case = n % every if every else -1
        if case == 1:
            continue  # deleted in Salesforce
        record = {**payload, "Id": record_id, "SystemModstamp": iso(T0)}
        if case == 2:
            record["Company"] = "手で直した会社"
        if case == 3:
            props["bridge_score"] = "10"
        records[record_id] = record
        pairs.append((payload, record))
    planted.update({"deleted": sum(1 for n in range(count) if every and n % every == 1),
                    "differs": sum(1 for n in range(count) if every and n % every == 2),
                    "stale": sum(1 for n in range(count) if every and n % every == 3)})
    for n in range(planted["deleted"]):  # as many orphans: records carrying ids no lead has
        records[f"00R{n:015d}"] = {"Id": f"00R{n:015d}", "HubSpot_Contact_Id__c": f"x{n}", "LastName": "孤児",
                                   "Company": "不明"}
    planted["orphan"] = planted["deleted"]
    hubspot = SideRecords("hubspot", "contacts", contacts, complete=False, covered=set(contacts),
                          changed_at="lastmodifieddate")
    target = SideRecords("salesforce", "Lead", records, changed_at="SystemModstamp")
    return (leads, hubspot, {SF_ROUTE: target}, [route]), pairs, planted


def baseline(pairs: list[tuple[dict, dict]]) -> int:
    """The least a compare does: each mapped field looked up in the record and compared."""
    differ = 0
    for expected, record in pairs:
        get = record.get
        for name, value in expected.items():
            if get(name) != value:
                differ += 1
    return differ


@dataclass
class CompareRun:
    seconds: float
    baseline_seconds: float
    found: Counter
    planted: Counter


def compare_run(count: int, drift: float) -> CompareRun:
    inputs, pairs, planted = compare_inputs(count, drift)
    started = time.perf_counter()
    plan = plan_reconciliation("full", *inputs)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline(pairs)
    return CompareRun(seconds, time.perf_counter() - started, plan.counts(), planted)


# -- the report -----------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per system for the full plan")
    parser.add_argument("--drift", type=float, default=0.01, help="share of N planted as drift")
    parser.add_argument("--compare", type=int, default=1_000_000,
                        help="records per side for the compare step (0: skip it)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="5,000 records, 50,000 compared, one run")
    parser.add_argument("--skip-full", action="store_true", help="only the compare step")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.compare, args.runs = 5000, 50_000, 1
    load = os.getloadavg()[0]
    print(f"reconciliation benchmark · {os.cpu_count()} cores · load {load:.1f} · {args.runs} run(s)")

    compares = [compare_run(args.compare, args.drift) for _ in range(args.runs if args.compare else 0)]
    if compares:
        _print_compare(args, compares)
    if not args.skip_full:
        _print_full(args, [full_run(args.records, args.drift) for _ in range(args.runs)])


def _print_compare(args: argparse.Namespace, compares: list[CompareRun]) -> None:
    seconds = statistics.median(c.seconds for c in compares)
    base = statistics.median(c.baseline_seconds for c in compares)
    last = compares[-1]
    print(f"\ncompare step, {args.compare:,} records per side, {sum(last.planted.values()):,} planted drift")
    print(f"  plan_reconciliation  median {seconds:.2f} s  (runs: {', '.join(f'{c.seconds:.2f}' for c in compares)})"
          f"  target ≤ {TARGETS['compare_seconds']:.0f} s: {verdict(seconds <= TARGETS['compare_seconds'])}")
    print(f"  baseline (dict look-up and equality per mapped field) median {base:.2f} s; ratio {seconds / base:.1f}×")
    print(f"  found {dict(sorted(last.found.items()))} · planted {dict(sorted(last.planted.items()))}"
          f" · {'all found, no false drift' if last.found == last.planted else 'MISMATCH'}")


def _print_full(args: argparse.Namespace, runs: list[FullRun]) -> None:
    seconds = statistics.median(r.seconds for r in runs)
    megabytes = statistics.median(r.megabytes for r in runs)
    last = runs[-1]
    print(f"\nfull plan, {args.records:,} records per system, {sum(last.planted.values()):,} planted drift "
          "(bridge reconcile --full in a child process, sandbox over loopback)")
    print(f"  wall time median {seconds:.1f} s (runs: {', '.join(f'{r.seconds:.1f}' for r in runs)})  "
          f"target ≤ {TARGETS['seconds']:.0f} s: {verdict(seconds <= TARGETS['seconds'])}")
    print(f"  peak memory median {megabytes:.0f} MB  target ≤ {TARGETS['megabytes']:.0f} MB: "
          f"{verdict(megabytes <= TARGETS['megabytes'])}")
    for system, minimum in last.minimum.items():
        made = last.calls.get(system, 0)
        print(f"  {system:<10} calls {made:>6,}  paging minimum {minimum:>6,}  ({made / minimum:.2f}×; the rest: "
              "describe / form reads)")
    print(f"  drift found {dict(sorted(last.found.items()))} · planted {dict(sorted(last.planted.items()))}")
    print(f"  found {sum(last.planted.values()) - last.missed:,} of {sum(last.planted.values()):,} planted "
          f"({verdict(last.missed == 0)}); false drift {last.false} ({verdict(last.false == 0)})")


if __name__ == "__main__":
    main()
