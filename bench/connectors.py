"""Connector benchmark: upsert 1,000 and 10,000 records through each connector into the sandbox.

The sandbox (connectors/sandbox) runs in a subprocess, on loopback, as the real APIs would run
elsewhere; each connector is built from the settings the sandbox prints, as `bridge` builds it.
Per connector and size it reports:
- API calls against the batching minimum (⌈N/100⌉ HubSpot and kintone, ⌈N/200⌉ Salesforce);
- records/s (median of the runs), and the seconds spent waiting for the rate limits (the connector never
  waits: it hands back what its budget refuses, with the seconds until a call may go, and the benchmark
  sleeps that long before sending those records again, as the worker reschedules them);
- the client's CPU time next to the sandbox's, both measured in the same run: the sandbox's own
  work is the baseline the client's cost is compared with (target: client < 5 % of it);
- the CPU of a bare requests.Session sending the same requests again (the HTTP/JSON floor), so the
  connector's own share (client − bare) shows apart from what any client pays.

Each run starts from an empty sandbox (POST /_sandbox/reset) and a new connector that has already
logged in (check()), so every record is created and no run inherits another's rate-limit window.
The sandbox's server (werkzeug) closes every connection, so each call also opens a TCP connection,
on both sides; a real API keeps them alive.

Run: .venv/bin/python -m bench.connectors [--sizes 1000,10000] [--runs 5] [--runs-large 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import RateLimited
from connectors.base import Connector, UpsertResult
from connectors.registry import connector_classes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The sandbox simulates a Professional portal (190 requests / 10 s), so the connector is told so.
HUBSPOT_TIER = "professional"


@dataclass(frozen=True)
class Case:
    """One connector's target object, upsert key, batch size and where its upsert calls are counted."""

    system: str
    object: str
    key: str
    batch: int
    label: str  # endpoint label in connector.calls
    endpoint: str  # endpoint name in the sandbox's call log
    record: Callable[[int], dict[str, Any]]

    def minimum(self, n: int) -> int:
        return -(-n // self.batch)


CASES = {
    "hubspot": Case(
        "hubspot",
        "contacts",
        "salesforce_lead_id",
        100,
        "POST /crm/v3/objects/contacts/batch/upsert",
        "hubspot.batch_upsert",
        lambda i: {
            "salesforce_lead_id": f"00Q5g{i:010d}",
            "email": f"lead{i}@example.co.jp",
            "firstname": "太郎",
            "lastname": f"山田{i}",
            "company": "株式会社サンプル",
            "jobtitle": "営業部長",
            "phone": "03-1234-5678",
            "numemployees": "100-500",
        },
    ),
    "salesforce": Case(
        "salesforce",
        "Lead",
        "HubSpot_Contact_Id__c",
        200,
        "PATCH composite/sobjects/Lead",
        "salesforce.upsert",
        lambda i: {
            "HubSpot_Contact_Id__c": str(100_000 + i),
            "Email": f"lead{i}@example.co.jp",
            "FirstName": "太郎",
            "LastName": f"山田{i}",
            "Company": "株式会社サンプル",
            "Title": "営業部長",
            "Phone": "03-1234-5678",
            "NumberOfEmployees": 250,
        },
    ),
    "kintone": Case(
        "kintone",
        "1",
        "hubspot_contact_id",
        100,
        "PUT records",
        "kintone.records_update",
        lambda i: {
            "hubspot_contact_id": str(100_000 + i),
            "email": f"lead{i}@example.co.jp",
            "first_name": "太郎",
            "last_name": f"山田{i}",
            "company": "株式会社サンプル",
            "title": "営業部長",
            "phone": "03-1234-5678",
            "employees": "250",
        },
    ),
}


@dataclass
class Run:
    system: str
    n: int
    tier: str
    calls: int  # upsert calls the connector counted
    served: int  # upsert calls the sandbox answered
    minimum: int
    seconds: float
    waited: float  # seconds slept waiting for rate limits, between upserts
    client_cpu: float
    sandbox_cpu: float
    bare_cpu: float  # a bare requests client sending the same requests (the wire-format floor)


# --- where the sandbox runs --------------------------------------------------------------------


class SubprocessSandbox:
    """The sandbox in a child process; its CPU time is asked over a pipe (process_time of all its
    threads), the client's is this process's own."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.connectors", "--serve-sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        hello = json.loads(self.process.stdout.readline() or "{}")
        if "env" not in hello:
            self.close()
            raise RuntimeError("the sandbox subprocess did not start")
        self.env: dict[str, str] = hello["env"]
        self.base_url: str = hello["base_url"]

    def cpu(self) -> tuple[float, float]:
        """(client CPU seconds, sandbox CPU seconds) so far."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("cpu\n")
        self.process.stdin.flush()
        return time.process_time(), float(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class InProcessSandbox:
    """The sandbox on threads of this process (the smoke test): the client's CPU is the calling
    thread's, the sandbox's is the rest of the process's."""

    def __init__(self) -> None:
        from connectors.sandbox import Sandbox, serve

        self.running = serve(Sandbox())
        self.env = self.running.sandbox.env()
        self.base_url = self.running.base_url

    def cpu(self) -> tuple[float, float]:
        mine = time.thread_time()
        return mine, time.process_time() - mine

    def close(self) -> None:
        self.running.stop()


Host = SubprocessSandbox | InProcessSandbox


@contextmanager
def sandbox(in_process: bool = False) -> Iterator[Host]:
    host: Host = InProcessSandbox() if in_process else SubprocessSandbox()
    try:
        yield host
    finally:
        host.close()


def serve_sandbox() -> None:
    """The child side: serve, print the settings, answer "cpu" with this process's CPU seconds."""
    from connectors.sandbox import Sandbox, serve

    running = serve(Sandbox())
    print(json.dumps({"env": running.sandbox.env(), "base_url": running.base_url}), flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "cpu":
                print(repr(time.process_time()), flush=True)
    finally:
        running.stop()


# --- one measured upsert -------------------------------------------------------------------------


def build(host: Host, system: str, tier: str) -> Connector:
    """The connector as the registry builds it from the sandbox's settings (its own budget, the real clock)."""
    read = EnvReader({**host.env, "HUBSPOT_TIER": tier})
    connector = connector_classes()[system].from_env(read)
    if read.problems:
        raise RuntimeError(f"{system}: {read.problems}")
    return connector


def upsert_all(connector: Connector, case: Case, records: list[dict[str, Any]]) -> tuple[list[UpsertResult], float]:
    """Upsert every record as the worker would: what a rate limit hands back (the budget's or the system's) is
    sent again once the limit allows; here the benchmark, the program's edge, sleeps until then. Returns the
    results in input order and the seconds slept."""
    results: dict[int, UpsertResult] = {}
    pending = list(range(len(records)))
    waited = 0.0
    while pending:
        try:
            answered = connector.upsert(case.object, case.key, [records[i] for i in pending])
        except RateLimited as error:
            wait = error.retry_after
        else:
            results.update(zip(pending, answered, strict=True))
            pending = [i for i in pending if isinstance(results[i].error, RateLimited)]
            if not pending:
                break
            wait = max(results[i].error.retry_after for i in pending)  # type: ignore[union-attr]
        start = time.perf_counter()
        time.sleep(wait)
        waited += time.perf_counter() - start
    return [results[i] for i in range(len(records))], waited


def run_case(host: Host, system: str, n: int, tier: str = HUBSPOT_TIER) -> Run:
    """Upsert n new records through a fresh, logged-in connector into an empty sandbox; then send
    the same requests again from a bare requests.Session, the floor any HTTP/JSON client pays."""
    case = CASES[system]
    control = f"{host.base_url}/_sandbox"
    requests.post(f"{control}/reset", timeout=10).raise_for_status()
    connector = build(host, system, tier)
    connector.check()  # log in (Salesforce's token) and make the first request, unmeasured
    records = [case.record(i) for i in range(n)]
    sent: list[requests.PreparedRequest] = []
    session: requests.Session = connector.http.session  # type: ignore[attr-defined]
    session.hooks["response"].append(lambda response, *_, **__: sent.append(response.request))

    client0, sandbox0 = host.cpu()
    start = time.perf_counter()
    results, waited = upsert_all(connector, case, records)
    seconds = time.perf_counter() - start
    client1, sandbox1 = host.cpu()

    outcomes = {r.outcome for r in results}
    if len(results) != n or outcomes != {"created"}:
        failed = next((r for r in results if r.outcome != "created"), None)
        raise RuntimeError(f"{system}: {len(results)} results, outcomes {outcomes}; e.g. {failed}")
    served = requests.get(f"{control}/calls", timeout=10).json().get(case.endpoint, {}).get("calls", 0)
    return Run(
        system=system,
        n=n,
        tier=tier,
        calls=connector.calls[case.label],
        served=served,
        minimum=case.minimum(n),
        seconds=seconds,
        waited=waited,
        client_cpu=client1 - client0,
        sandbox_cpu=sandbox1 - sandbox0,
        bare_cpu=bare_client_cpu(host, sent),
    )


def bare_client_cpu(host: Host, sent: Sequence[requests.PreparedRequest]) -> float:
    """Client CPU seconds to send the same requests (JSON-encoding the same bodies) and decode the
    replies with a plain requests.Session: no retries, limits, result mapping or record building."""
    calls = [
        (
            r.method or "GET",
            r.url or "",
            {k: v for k, v in r.headers.items() if k.lower() in _KEPT},
            json.loads(r.body or "null"),
        )
        for r in sent
    ]
    config = f"{host.base_url}/_sandbox/config"
    limit = requests.get(config, timeout=10).json()["hubspot"]["rate_limit"]
    # The replay doubles the calls: lift HubSpot's 10-second limit meanwhile so none is refused.
    requests.patch(config, json={"hubspot": {"rate_limit": 1_000_000}}, timeout=10).raise_for_status()
    try:
        with requests.Session() as session:
            client0, _ = host.cpu()
            for method, url, headers, body in calls:
                reply = session.request(method, url, json=body, headers=headers, timeout=60)
                if reply.status_code >= 300:
                    raise RuntimeError(f"bare client: {method} {url} answered {reply.status_code}")
                reply.json()
            client1, _ = host.cpu()
    finally:
        requests.patch(config, json={"hubspot": {"rate_limit": limit}}, timeout=10)
    return client1 - client0


_KEPT = {"authorization", "x-cybozu-api-token", "sforce-auto-assign"}


# --- the report ----------------------------------------------------------------------------------


@dataclass
class Row:
    system: str
    n: int
    tier: str
    runs: list[Run]

    @property
    def calls(self) -> str:
        counts = sorted({r.calls for r in self.runs})
        served = sorted({r.served for r in self.runs})
        text = "/".join(map(str, counts))
        return text if served == counts else f"{text} (sandbox saw {'/'.join(map(str, served))})"

    @property
    def at_minimum(self) -> bool:
        return all(r.calls == r.served == r.minimum for r in self.runs)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.runs)

    @property
    def rate(self) -> float:
        return self.n / self.median("seconds")

    @property
    def cpu_share(self) -> float:
        """The client's CPU as a share of the sandbox's, over all runs of the row."""
        sandbox_cpu = sum(r.sandbox_cpu for r in self.runs)
        return sum(r.client_cpu for r in self.runs) / sandbox_cpu if sandbox_cpu else float("nan")


NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "kintone": "kintone"}


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| connector | records | API calls (minimum) | records/s | s per run (waiting) "
        "| sandbox CPU ms | client CPU ms | client / sandbox | bare HTTP client ms | connector's own / sandbox |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = NAMES[row.system] + (f" ({row.tier} tier)" if row.system == "hubspot" else "")
        sandbox_cpu = sum(r.sandbox_cpu for r in row.runs)
        own = sum(r.client_cpu - r.bare_cpu for r in row.runs)
        lines.append(
            f"| {name} | {row.n:,} | {row.calls} ({row.runs[0].minimum}) | {row.rate:,.0f} "
            f"| {row.median('seconds'):.2f} ({row.median('waited'):.2f}) "
            f"| {row.median('sandbox_cpu') * 1000:,.0f} | {row.median('client_cpu') * 1000:,.0f} "
            f"| {row.cpu_share:.0%} | {row.median('bare_cpu') * 1000:,.0f} | {own / sandbox_cpu:.0%} |"
        )
    return "\n".join(lines)


def benchmark(
    sizes: Sequence[int],
    runs: int,
    runs_large: int,
    free_tier: bool,
    in_process: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Row]:
    rows: list[Row] = []
    with sandbox(in_process) as host:
        for system in CASES:
            run_case(host, system, CASES[system].batch)  # warm-up: imports, first connection
        for n in sizes:
            for system in CASES:
                count = runs if n <= 1000 else runs_large
                row = Row(system, n, HUBSPOT_TIER, [run_case(host, system, n) for _ in range(count)])
                each = ", ".join(f"{r.seconds:.3f}" for r in row.runs)
                progress(f"{system} {n}: {row.rate:,.0f} records/s, {row.calls} calls; runs {each} s")
                rows.append(row)
        if free_tier:
            # HUBSPOT_TIER's default: 90 % of 100 requests / 10 s, so call 91 waits for the window.
            n = max(sizes)
            row = Row("hubspot", n, "free", [run_case(host, "hubspot", n, "free")])
            progress(f"hubspot {n} (free tier): {row.rate:,.0f} records/s")
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="records per upsert, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="runs per size up to 1,000 (median reported)")
    parser.add_argument("--runs-large", type=int, default=3, help="runs per size above 1,000")
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 records, 3 and 1 runs (< 30 s)")
    parser.add_argument("--no-free-tier", action="store_true", help="skip the HubSpot free-tier run (~10 s)")
    parser.add_argument("--in-process", action="store_true", help="sandbox on threads of this process")
    parser.add_argument("--serve-sandbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox()
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    runs, runs_large = (3, 1) if args.quick else (args.runs, args.runs_large)
    free_tier = not (args.quick or args.no_free_tier)

    started = time.perf_counter()
    rows = benchmark(sizes, runs, runs_large, free_tier, args.in_process, lambda line: print(line, file=sys.stderr))
    where = "in this process" if args.in_process else "in a subprocess"
    print(
        f"\n{os.cpu_count()} cores; sandbox {where} on loopback; median of {runs} runs "
        f"(≤ 1,000 records) and {runs_large} (larger); {time.perf_counter() - started:.0f} s in all\n"
    )
    print(table(rows))
    print(
        "\nclient / sandbox: this process's CPU over the sandbox process's, same runs. bare HTTP client: "
        "a plain requests.Session\nsending the same requests (JSON-encoding the same bodies, decoding the "
        "replies). connector's own: (client − bare) / sandbox."
    )
    missed = [f"{r.system} {r.n}" for r in rows if not r.at_minimum]
    print(
        "\nEvery run made exactly the minimum number of upsert calls."
        if not missed
        else f"\nMore calls than the minimum: {', '.join(missed)}"
    )


if __name__ == "__main__":
    main()
