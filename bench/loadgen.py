"""A small HTTP load generator over keep-alive connections: closed-loop peak rate and paced latency runs."""

from __future__ import annotations

import http.client
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

Request = tuple[str, bytes, dict[str, str]]  # path, body, headers


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


def _client(args) -> tuple[int, int, list[float]]:
    host, port, requests, duration, interval, start_at = args
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies, errors, sent = [], 0, 0
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    for path, body, headers in requests:
        scheduled = t0 + sent * interval if interval else time.perf_counter()
        now = time.perf_counter()
        if now - t0 > duration:
            break
        if interval and scheduled > now:
            time.sleep(scheduled - now)
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        # Latency from the scheduled send time, so a stalled server is not hidden (coordinated omission).
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += response.status >= 300
        sent += 1
    conn.close()
    return sent, errors, latencies


def run_load(host: str, port: int, make_requests: Callable[[int, int], list[Request]], clients: int,
             duration: float, rate: float | None = None, per_client: int = 200_000) -> Result:
    """Send from `clients` processes for `duration` seconds, flat out or at `rate` requests/s in total."""
    interval = clients / rate if rate else 0.0
    per_client = min(per_client, int(duration / interval) + 1) if interval else per_client
    requests = [make_requests(c, per_client) for c in range(clients)]  # before the clock starts: 100-event
    start_at = time.time() + 0.5  # bodies take a while to build and sign
    jobs = [(host, port, requests[c], duration, interval, start_at) for c in range(clients)]
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        t0 = time.time()
        outcomes = pool.map(_client, jobs)
        elapsed = time.time() - max(t0, start_at)
    latencies = [lat for _, _, lats in outcomes for lat in lats]
    return Result(sum(o[0] for o in outcomes), sum(o[1] for o in outcomes), elapsed, latencies)


def median(values: list[float]) -> float:
    return statistics.median(values)
