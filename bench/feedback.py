"""Sales-feedback benchmark: a burst of reps' status changes in Salesforce and kintone, through a real `bridge serve`.

Set-up (not measured): N leads are handed off to Salesforce and kintone (bench/handoff.py's seed and burst), and
everything settles, the echo webhooks of the handoff included. Then, through the sandbox's control API and as fast
as a small thread pool sends them, every Lead's Status becomes `Working - Contacted` and every kintone record moves
to 受注: outbound messages (up to 100 notifications each) and one kintone webhook per record reach Bridge, which
reads the records again in batches, tells the sales events and writes them back to the HubSpot contacts.

The two changes write different HubSpot properties, so each system's arrival is seen on its own whatever the order:
Salesforce's `contacted` sets hs_lead_status IN_PROGRESS, kintone's `won` sets bridge_sales_outcome won (and no lead
status). Reported per run:
  latency  per system, from Bridge receiving the delivery for the record (its inbox received_at) to the HubSpot
           sandbox's contact taking the value (the property's newest version, as HubSpot's property history keeps);
  calls    every API call of the window, against the batching minimum: ⌈N/200⌉ Salesforce reads (SOQL IN with 200
           ids), ⌈N/100⌉ kintone reads, and ⌈N/100⌉ HubSpot batch updates per system (the two systems' changes of
           a lead are independent: a write waits for neither; one write that carries both is a saving, shown too);
  baseline the bare API work of one batch done directly with the connectors: read 100 Leads, read 100 kintone
           records, update 100 HubSpot contacts.

Run: .venv/bin/python -m bench.feedback [--leads 1000] [--runs 3] [--quick] [--threads 4] [--direct]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.handoff import KINTONE_APP, KINTONE_KEY, bridge_cpu_seconds, percentile, seed, until_salesforce_done
from bench.handoff import burst as hand_off
from bridge.demo import Stack, running_stack
from bridge.kernel.clock import iso, parse_iso
from connectors.registry import load_connectors
from connectors.sandbox.kintone_query import Query

SYSTEMS = ("salesforce", "kintone")
#: What a rep does in each system, and the HubSpot property and value that show it arrived.
SALESFORCE_STATUS, KINTONE_STATUS = "Working - Contacted", "受注"
WATCHED = {"salesforce": ("hs_lead_status", "IN_PROGRESS"), "kintone": ("bridge_sales_outcome", "won")}
SF_READ, KINTONE_READ, HUBSPOT_WRITE = "salesforce.query", "kintone.records_read", "hubspot.batch_update"
#: The issue's targets: p95 from delivery received to the HubSpot property written (ms); calls against the minimum.
TARGETS = {"p95": 2000.0, "calls": 1.1}


def minimum_calls(leads: int) -> dict[str, int]:
    """Full batches: a SOQL IN reads 200 Leads (connectors/salesforce.py READ_CHUNK), a kintone query 100 records,
    a HubSpot batch update 100 contacts, once for each system's changes."""
    return {SF_READ: math.ceil(leads / 200), KINTONE_READ: math.ceil(leads / 100),
            HUBSPOT_WRITE: 2 * math.ceil(leads / 100)}


def merged_floor(leads: int) -> int:
    """The fewest HubSpot writes possible: one per 100 contacts, each carrying both systems' changes."""
    return math.ceil(leads / 100)


def record_ids(stack: Stack) -> dict[str, dict[str, str]]:
    """Each system's record id of each lead, by HubSpot contact id."""
    sandbox = stack.sandbox.sandbox
    return {"salesforce": {r["HubSpot_Contact_Id__c"]: r["Id"] for r in sandbox.salesforce.store.all()},
            "kintone": {r.values[KINTONE_KEY]: str(r.id) for r in sandbox.kintone.apps[KINTONE_APP].select(Query())}}


def pending_reads(stack: Stack) -> int:
    return stack.store.conn.db.execute("SELECT COUNT(*) FROM lead_records WHERE needs_read = 1").fetchone()[0]


def drain(stack: Stack, timeout: float = 300) -> None:
    """Settle, and wait until no sales record waits to be read (the handoff's own outbound messages and webhooks
    mark the new records changed): the measured window then holds only the reps' changes."""
    deadline = time.monotonic() + timeout
    while True:
        stack.settle(timeout=timeout)
        if not pending_reads(stack):
            stack.settle(timeout=timeout)
            if not pending_reads(stack):
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"sales records still wait to be read after {timeout:.0f} s; see {stack.log_path}")
        time.sleep(0.2)


def rep_actions(control: str, records: dict[str, dict[str, str]], contacts: list[str]) -> list[tuple[str, str, dict]]:
    """The control API calls of the burst, the two systems interleaved: (method, URL, body)."""
    actions = []
    for contact in contacts:
        actions.append(("PATCH", f"{control}/salesforce/leads/{records['salesforce'][contact]}",
                        {"fields": {"Status": SALESFORCE_STATUS}}))
        actions.append(("POST", f"{control}/kintone/apps/{KINTONE_APP}/records/{records['kintone'][contact]}/status",
                        {"status": KINTONE_STATUS}))
    return actions


def send_all(actions: list[tuple[str, str, dict]], threads: int) -> float:
    """Send the calls from `threads` sessions at once; returns the seconds it took."""
    local = threading.local()

    def send(action: tuple[str, str, dict]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        method, url, body = action
        local.session.request(method, url, json=body, timeout=30).raise_for_status()

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, actions))
    return time.monotonic() - started


def act_directly(stack: Stack, records: dict[str, dict[str, str]], contacts: list[str]) -> float:
    """The same changes through the sandbox's stores in this process: what the control API's handlers call, without
    HTTP, so the burst is as short as the sandbox can make it (bench/handoff.py acts on HubSpot the same way)."""
    sandbox = stack.sandbox.sandbox
    leads, app = sandbox.salesforce.org.stores["Lead"], sandbox.kintone.apps[KINTONE_APP]
    started = time.monotonic()
    for contact in contacts:
        leads.save(records["salesforce"][contact], leads.schema.coerce({"Status": SALESFORCE_STATUS}), "UI")
        app.change_status(int(records["kintone"][contact]), KINTONE_STATUS)
    return time.monotonic() - started


def until_written(stack: Stack, contacts: list[str], timeout: float = 300) -> None:
    """Return once every contact shows both systems' changes in the HubSpot sandbox."""
    store, deadline = stack.sandbox.sandbox.hubspot.store, time.monotonic() + timeout
    while True:
        left = [c for c in contacts if not all(
            (store.find(c).properties.get(name) == value) for name, value in WATCHED.values())]
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(left)} contact(s) lack the reps' changes after {timeout:.0f} s, e.g. "
                               f"{left[:3]}; see {stack.log_path}")
        time.sleep(0.05)


def received_at(stack: Stack, since: datetime) -> dict[tuple[str, str], tuple[datetime, datetime | None]]:
    """When Bridge received the first delivery for each (system, record key) since `since`, and when its inbox
    stage was done with it. Read straight from Bridge's database: the benchmark observes, it adds no API."""
    rows = stack.store.conn.db.execute(
        "SELECT source, record_key, MIN(received_at), finished_at FROM inbox WHERE source IN ('salesforce', "
        "'kintone') AND received_at >= ? GROUP BY source, record_key", [iso(since)]).fetchall()
    return {(source, key): (parse_iso(at), parse_iso(done) if done else None) for source, key, at, done in rows}


def events_recorded(stack: Stack, since: datetime) -> dict[tuple[str, str], datetime]:
    """When Bridge recorded each lead's sales event from each system (the record read, its event told)."""
    rows = stack.store.conn.db.execute(
        "SELECT l.hubspot_id, e.system, MIN(e.recorded_at) FROM sales_events e JOIN leads l ON l.id = e.lead_id "
        "WHERE e.recorded_at >= ? GROUP BY l.hubspot_id, e.system", [iso(since)]).fetchall()
    return {(system, contact): parse_iso(at) for contact, system, at in rows}


def record_key(system: str, record_id: str) -> str:
    return f"Lead:{record_id}" if system == "salesforce" else f"app{KINTONE_APP}:{record_id}"


def spans(start: dict, end: dict, keys: list, what: str) -> list[float]:
    """Milliseconds from start[k] to end[k] for every key; RuntimeError when one lacks either."""
    missing = [k for k in keys if start.get(k) is None or end.get(k) is None]
    if missing:
        raise RuntimeError(f"{len(missing)} lead(s) have no {what}, e.g. {missing[:3]}")
    return [(end[k] - start[k]).total_seconds() * 1000 for k in keys]


def baseline_ms(stack: Stack, records: dict[str, dict[str, str]], contacts: list[str]) -> float:
    """The bare API work of one batch, done directly: read 100 Leads, read 100 kintone records, update 100
    contacts."""
    connectors, problems = load_connectors(stack.sandbox.sandbox.env())
    assert not problems, problems
    batch = contacts[:100]
    started = time.perf_counter()
    connectors["salesforce"].read("Lead", [records["salesforce"][c] for c in batch],
                                  ["Status", "LastModifiedDate", "Disqualification_Reason__c", "IsConverted"])
    connectors["kintone"].read(KINTONE_APP, [records["kintone"][c] for c in batch],
                               ["ステータス", "更新日時", "失注理由"])
    connectors["hubspot"].upsert("contacts", "hs_object_id",
                                 [{"hs_object_id": c, "hs_lead_status": "IN_PROGRESS", "bridge_sales_outcome": "won"}
                                  for c in batch])
    return (time.perf_counter() - started) * 1000


def stats(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p95": percentile(values, 95), "max": max(values)}


def one_run(leads: int, threads: int, direct: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-feedback-") as folder, \
            running_stack(Path(folder), kintone=True) as stack:
        # This measures the webhook path, so the sandbox's kintone notifies every change. kintone itself notifies
        # 60 changes a minute per domain; the rest of a burst reach Bridge by the catch-up poll (README).
        stack.sandbox.sandbox.config.kintone.webhooks_per_minute = None
        contacts = seed(stack, leads)
        hand_off(stack, contacts)
        until_salesforce_done(stack, leads)
        drain(stack)
        records = record_ids(stack)
        if any(len(records[s]) != leads for s in SYSTEMS):
            raise RuntimeError(f"the handoff made {', '.join(f'{len(records[s])} {s}' for s in SYSTEMS)} records")
        calls = stack.sandbox.sandbox.calls
        before = calls.snapshot()
        load = os.getloadavg()[0]
        cpu_before = bridge_cpu_seconds(Path(folder).resolve())
        since, started = datetime.now(UTC), time.monotonic()
        sending = act_directly(stack, records, contacts) if direct else \
            send_all(rep_actions(f"{stack.sandbox.base_url}/_sandbox", records, contacts), threads)
        until_written(stack, contacts)
        window = time.monotonic() - started
        bridge_cpu = bridge_cpu_seconds(Path(folder).resolve()) - cpu_before
        drain(stack)  # what the writes set going (HubSpot's echo webhooks) is counted too
        used = calls_between(before, calls.snapshot())
        received = received_at(stack, since)
        recorded = events_recorded(stack, since)
        hubspot = stack.sandbox.sandbox.hubspot.store
        result: dict = {"systems": {}, "calls": used, "direct": direct, "minimum": minimum_calls(leads),
                        "window": window, "sending": sending, "bridge_cpu": bridge_cpu, "load": load}
        for system in SYSTEMS:
            keys = [(system, record_key(system, records[system][c])) for c in contacts]
            arrived = {k: received[k][0] for k in keys if k in received}
            processed = {k: received[k][1] for k in keys if k in received}
            told = {k: recorded.get((system, c)) for k, c in zip(keys, contacts, strict=True)}
            name = WATCHED[system][0]
            written = {k: hubspot.find(c).changed_at.get(name) for k, c in zip(keys, contacts, strict=True)}
            latency = spans(arrived, written, keys, f"{system} delivery or HubSpot {name}")
            result["systems"][system] = {
                **stats(latency),
                "spread": (max(arrived.values()) - min(arrived.values())).total_seconds(),
                "stages": {"inbox": stats(spans(arrived, processed, keys, "processed delivery")),
                           "read": stats(spans(processed, told, keys, "sales event")),
                           "write": stats(spans(told, written, keys, "HubSpot value"))}}
        result["baseline"] = baseline_ms(stack, records, contacts)
    return result


def calls_between(before: dict[str, dict], after: dict[str, dict]) -> dict[str, int]:
    """Calls per endpoint made between two call-log snapshots (token requests included: any call counts)."""
    used = {e: after[e]["calls"] - before.get(e, {"calls": 0})["calls"] for e in after}
    return {e: n for e, n in sorted(used.items()) if n}


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def run_lines(n: int, r: dict) -> list[str]:
    lines = [f"run {n}: reps' calls sent in {r['sending']:.1f} s; every change in HubSpot after {r['window']:.1f} s; "
             f"Bridge used {r['bridge_cpu']:.1f} s of CPU meanwhile (of {2 * r['window']:.1f} core-seconds); calls "
             f"{r['calls']}; baseline {r['baseline']:.0f} ms; load average {r['load']:.2f} before the burst"]
    for system, s in r["systems"].items():
        stage_text = ", ".join(f"{name} {v['p50']:.0f} / {v['p95']:.0f}" for name, v in s["stages"].items())
        lines.append(f"  {system}: p50 {s['p50']:.0f} / p95 {s['p95']:.0f} / max {s['max']:.0f} ms; deliveries "
                     f"received over {s['spread']:.1f} s; stages p50 / p95: {stage_text}")
    return lines


def summary(results: list[dict], leads: int) -> list[str]:
    """The medians of the runs as a Markdown table, with the targets."""
    def med(pick: Callable[[dict], float]) -> float:
        return statistics.median(pick(r) for r in results)

    minimum = results[0]["minimum"]
    lines = [f"| burst of {leads:,} Salesforce + {leads:,} kintone status changes ({len(results)} runs, medians) "
             "| value | target |", "|---|---|---|"]
    for system in SYSTEMS:
        p50, p95, top = (med(lambda r, s=system, k=k: r["systems"][s][k]) for k in ("p50", "p95", "max"))
        name = WATCHED[system][0]
        lines.append(f"| {system}: delivery received → HubSpot {name} written, p50 / p95 / max | "
                     f"{p50:,.0f} / {p95:,.0f} / {top:,.0f} ms | p95 ≤ {TARGETS['p95'] / 1000:g} s: "
                     f"{verdict(p95 <= TARGETS['p95'])} |")
    for system in SYSTEMS:
        cells = " / ".join(f"{med(lambda r, s=system, n=n: r['systems'][s]['stages'][n]['p95']):,.0f}"
                           for n in ("inbox", "read", "write"))
        lines.append(f"| {system}: p95 of each stage: inbox / read + tell events / write to HubSpot | {cells} ms | |")
    base = med(lambda r: r["baseline"])
    worst = max(med(lambda r, s=s: r["systems"][s]["p95"]) for s in SYSTEMS)
    lines.append(f"| baseline: the bare API calls for one batch (read 100 + 100, update 100) | {base:,.0f} ms | |")
    lines.append(f"| added by the service at the worse p95 (p95 − baseline) | {worst - base:,.0f} ms | |")
    for endpoint, least in minimum.items():
        used = med(lambda r, e=endpoint: r["calls"].get(e, 0))
        note = f"; {merged_floor(leads)} if every write carried both systems" if endpoint == HUBSPOT_WRITE else ""
        lines.append(f"| {endpoint} calls | {used:.0f} (minimum {least}{note}; {used / least:.2f}×) | "
                     f"≤ {TARGETS['calls']:g}×: {verdict(used <= TARGETS['calls'] * least)} |")
    total, least = med(lambda r: sum(r["calls"].get(e, 0) for e in minimum)), sum(minimum.values())
    lines.append(f"| reads and HubSpot writes together | {total:.0f} (minimum {least}; {total / least:.2f}×) | "
                 f"≤ {TARGETS['calls']:g}×: {verdict(total <= TARGETS['calls'] * least)} |")
    others = sorted({e for r in results for e in r["calls"]} - set(minimum))
    if others:
        text = ", ".join(f"{e} {med(lambda r, e=e: r['calls'].get(e, 0)):.0f}" for e in others)
        lines.append(f"| other calls in the window (medians) | {text} | |")
    how = "sandbox stores, in-process" if results[0].get("direct") else "control API"
    lines.append(f"| reps' changes made in ({how}) / every change in HubSpot after | "
                 f"{med(lambda r: r['sending']):.1f} s / {med(lambda r: r['window']):.1f} s | |")
    lines.append(f"| Bridge's CPU in that window, of 2 cores × the window | {med(lambda r: r['bridge_cpu']):.1f} s of "
                 f"{med(lambda r: 2 * r['window']):.1f} s (load average before: {med(lambda r: r['load']):.2f}) | |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100 leads (100 + 100 changes), one run")
    parser.add_argument("--threads", type=int, default=4, help="sessions sending the reps' changes at once")
    parser.add_argument("--direct", action="store_true",
                        help="make the changes through the sandbox's stores in this process, not its control API")
    args = parser.parse_args()
    leads, runs = (100, 1) if args.quick else (args.leads, args.runs)
    results = []
    for n in range(runs):
        result = one_run(leads, args.threads, args.direct)
        results.append(result)
        print("\n".join(run_lines(n + 1, result)), flush=True)
    print("\n" + "\n".join(summary(results, leads)))


if __name__ == "__main__":
    main()
