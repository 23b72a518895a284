"""Ingest benchmark: signed HubSpot deliveries (1 and 100 events) against gunicorn, versus hello-world Flask.

Run: .venv/bin/python -m bench.ingest   (about two minutes; prints a Markdown table for the README)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.loadgen import Result, median, run_load
from connectors.hubspot import sign_v3

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-client-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:bridge.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", "/dev/null", app],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except requests.RequestException:  # not listening yet, or still loading the app
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def signed_requests(port: int, events_per_request: int):
    url = f"http://127.0.0.1:{port}/webhooks/hubspot"
    # Every call (one client in one run) sends new events: resending the keys of an earlier run would
    # measure only the duplicate check, not a commit. subscriptionId keeps 1- and 100-event keys apart.
    batches = itertools.count()

    def make(client: int, count: int):
        ts = str(int(time.time() * 1000))
        batch = next(batches)
        out = []
        for n in range(count):
            base = (batch * 10_000_000 + n) * events_per_request
            events = [
                {"eventId": base + i, "subscriptionId": events_per_request, "portalId": 62515, "appId": 1,
                 "objectId": 1000 + (base + i) % 5000,
                 "occurredAt": 1764000000000 + base + i, "subscriptionType": "contact.propertyChange",
                 "attemptNumber": 0, "propertyName": "email", "propertyValue": f"lead{base + i}@example.co.jp",
                 "changeSource": "CRM"}
                for i in range(events_per_request)
            ]
            body = json.dumps(events).encode()
            out.append(("/webhooks/hubspot", body, {
                "Content-Type": "application/json", "X-HubSpot-Request-Timestamp": ts,
                "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, ts)}))
        return out

    return make


def measure(port: int, events: int, clients: int, duration: float, repeats: int) -> tuple[list[Result], Result]:
    make = signed_requests(port, events)
    peaks = [run_load("127.0.0.1", port, make, clients, duration, per_client=int(duration * 3000 / events) + 50)
             for _ in range(repeats)]
    half = median([p.rate for p in peaks]) / 2
    paced = run_load("127.0.0.1", port, make, clients, duration, rate=half)
    return peaks, paced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="peak runs per case (the median is reported)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (keep-alive connections)")
    args = parser.parse_args()

    rows = []
    acknowledged = 0  # events Bridge answered 2xx for; each was new, so each must be in the inbox
    with tempfile.TemporaryDirectory() as tmp:
        env = {"BRIDGE_DB": f"{tmp}/bench.db", "BRIDGE_MAPPINGS": str(ROOT / "mappings"),
               "HUBSPOT_CLIENT_SECRET": SECRET,
               "BRIDGE_LOG_LEVEL": "WARNING"}
        for name, app in (("hello-world Flask (baseline)", "bench.hello_app:app"), ("Bridge", "wsgi:app")):
            port = free_port()
            server = start(app, port, env)
            try:
                for events in (1, 100):
                    peaks, paced = measure(port, events, args.clients, args.duration, args.repeats)
                    rate = median([p.rate for p in peaks])
                    errors = sum(p.errors for p in peaks) + paced.errors
                    rows.append((name, events, rate, rate * events, paced.rate, paced.percentile(50),
                                 paced.percentile(99), errors))
                    if name == "Bridge":
                        acknowledged += sum(r.requests - r.errors for r in [*peaks, paced]) * events
            finally:
                server.terminate()
                server.wait()
        if Path(f"{tmp}/bench.db").exists():
            import sqlite3

            with sqlite3.connect(f"{tmp}/bench.db") as db:
                stored = db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
        else:
            stored = 0

    print(f"\n{os.cpu_count()} cores, gunicorn gthread {args.clients} client processes, "
          f"{args.duration:.0f} s runs, median of {args.repeats}\n")
    print("| server | events/request | peak requests/s | peak events/s | paced at half peak (req/s) "
          "| p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, events, rate, ev_rate, paced, p50, p99, errors in rows:
        print(f"| {name} | {events} | {rate:,.0f} | {ev_rate:,.0f} | {paced:,.0f} | {p50:.1f} | {p99:.1f} | {errors} |")
    base = {events: rate for name, events, rate, *_ in rows if name.startswith("hello")}
    for name, events, rate, *_ in rows:
        if name == "Bridge":
            print(f"\nBridge / hello-world at {events} event(s) per request: {rate / base[events]:.2f}")
    print(f"events committed to the inbox during the Bridge runs: {stored:,} (acknowledged: {acknowledged:,})")


if __name__ == "__main__":
    main()
