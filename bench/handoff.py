"""Handoff benchmark: a burst of leads crossing the threshold at once, through a real `bridge serve`.

Each run seeds N HubSpot contacts in the sandbox at 95 points (a pricing visit included), then
changes all their job titles to 課長 (+10) within a moment: HubSpot-shaped propertyChange webhooks
arrive, Bridge re-reads the contacts in batches, hands every lead off and upserts it into the
Salesforce sandbox. Reported per run:
  latency  from Bridge receiving the webhook to the Lead being created in the Salesforce sandbox;
  calls    per handed-off lead, against the batching minimum ⌈N/100⌉ reads + ⌈N/200⌉ upserts + ⌈N/100⌉
           write-backs;
  baseline the same API work done directly with the connectors (no inbox, no evaluation, no outbox),
           measured in the same run: what the service adds is latency minus this.

Run: .venv/bin/python -m bench.handoff [--leads 1000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bridge.demo import Stack, running_stack
from bridge.kernel.clock import parse_iso
from connectors.registry import load_connectors

READ, UPSERT = "hubspot.batch_read", "salesforce.upsert"


def seed(stack: Stack, leads: int) -> list[str]:
    """N contacts at 95 points: target industry and size (25) plus a pricing visit and two whitepapers (70)."""
    ids = stack.create_contacts([{"email": f"lead{n}@bench-{n % 97}.example", "lastname": f"テスト{n}",
                                  "company": f"ベンチ株式会社{n % 97}", "industry": "SaaS", "numemployees": "100-500"}
                                 for n in range(leads)])
    stack.settle(timeout=300)
    now = datetime.now(UTC).isoformat()
    kinds = ("pricing_page_visit", "whitepaper_download", "whitepaper_download")
    stack.post_activities([{"id": f"bench-{c}-{n}", "hubspot_id": c, "type": kind, "occurred_at": now}
                           for c in ids for n, kind in enumerate(kinds)])
    stack.settle(timeout=300)
    return ids


def burst(stack: Stack, ids: list[str]) -> float:
    """Every contact becomes a manager (+10 → 105) as fast as the sandbox takes it; returns when it started."""
    started = time.monotonic()
    for contact in ids:
        stack.sandbox.sandbox.hubspot.store.update(contact, {"jobtitle": "営業課長"}, "CRM")
    return started


def latencies_ms(stack: Stack, ids: list[str]) -> list[float]:
    """Per lead: webhook received by Bridge → Lead created in the Salesforce sandbox."""
    # Read straight from Bridge's database: the benchmark observes, it does not add an API for itself.
    received = dict(stack.store.conn.db.execute(
        "SELECT record_key, MIN(received_at) FROM inbox WHERE event_type = 'contact.propertyChange' "
        "AND body LIKE '%\"jobtitle\"%' GROUP BY record_key").fetchall())
    created = {r["HubSpot_Contact_Id__c"]: r["CreatedDate"] for r in stack.sandbox.sandbox.salesforce.store.all()}
    missing = [c for c in ids if c not in created or f"contact:{c}" not in received]
    if missing:
        raise RuntimeError(f"{len(missing)} lead(s) were not handed off, e.g. {missing[:3]}")
    return [(parse_iso(str(created[c])) - parse_iso(received[f"contact:{c}"])).total_seconds() * 1000 for c in ids]


def baseline_ms(stack: Stack, ids: list[str]) -> float:
    """The bare API work of one batch, done directly: read 100 contacts, upsert 200 Leads, write back 100."""
    connectors, problems = load_connectors(stack.sandbox.sandbox.env())
    assert not problems, problems
    hubspot, salesforce = connectors["hubspot"], connectors["salesforce"]
    batch = ids[:200]
    started = time.perf_counter()
    records = hubspot.read("contacts", batch[:100], ["email", "lastname", "company", "jobtitle"])
    salesforce.upsert("Lead", "HubSpot_Contact_Id__c", [
        {"HubSpot_Contact_Id__c": f"baseline-{c}", "LastName": "ベースライン", "Company": "ベンチ",
         "Email": f"b{c}@x.example"}
        for c in batch])
    hubspot.upsert("contacts", "hs_object_id", [{"hs_object_id": c, "bridge_score": 1} for c in list(records)[:100]])
    return (time.perf_counter() - started) * 1000


def one_run(leads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-handoff-") as folder, \
            running_stack(Path(folder), kintone=False) as stack:
        ids = seed(stack, leads)
        calls = stack.sandbox.sandbox.calls
        before = {e: calls.count(e) for e in (READ, UPSERT, "hubspot.batch_update")}
        started = burst(stack, ids)
        stack.settle(timeout=300)
        wall = time.monotonic() - started
        used = {e: calls.count(e) - before[e] for e in before}
        lat = sorted(latencies_ms(stack, ids))
        base = baseline_ms(stack, ids)
    minimum = math.ceil(leads / 100) + math.ceil(leads / 200) + math.ceil(leads / 100)
    return {"p50": statistics.median(lat), "p95": lat[max(0, math.ceil(len(lat) * 0.95) - 1)], "max": lat[-1],
            "calls": sum(used.values()), "detail": used, "minimum": minimum, "baseline": base, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 leads, one run")
    args = parser.parse_args()
    leads, runs = (200, 1) if args.quick else (args.leads, args.runs)
    results = []
    for n in range(runs):
        result = one_run(leads)
        results.append(result)
        print(f"run {n + 1}: p50 {result['p50']:.0f} ms, p95 {result['p95']:.0f} ms, max {result['max']:.0f} ms, "
              f"calls {result['calls']} ({result['detail']}) vs minimum {result['minimum']}, "
              f"baseline {result['baseline']:.0f} ms, burst drained in {result['wall']:.1f} s", flush=True)
    med = {k: statistics.median(r[k] for r in results) for k in ("p50", "p95", "max", "calls", "baseline", "wall")}
    minimum = results[0]["minimum"]
    print(f"\n| burst of {leads} leads ({runs} runs, medians) | value |\n|---|---|")
    print(f"| webhook received → Salesforce Lead created, p50 | {med['p50']:,.0f} ms |")
    print(f"| same, p95 | {med['p95']:,.0f} ms |")
    print(f"| baseline: the bare API calls for one batch | {med['baseline']:,.0f} ms |")
    print(f"| added by the service at p95 (p95 − baseline) | {med['p95'] - med['baseline']:,.0f} ms |")
    print(f"| API calls | {med['calls']:.0f} (minimum {minimum}; {med['calls'] / minimum:.2f}×) |")
    print(f"| API calls per handed-off lead | {med['calls'] / leads:.3f} |")
    print(f"| whole burst drained | {med['wall']:.1f} s |")


if __name__ == "__main__":
    main()
