"""SLA timers benchmark: 100,000 open clocks, 10,000 of them breached in the same minute, through the worker's
timers stage on a real store.

The store is a fresh SQLite file (the production settings: WAL, synchronous=FULL); the stage is the worker's own
(bridge/worker/run.py builds it), with the shipped mappings. Time is injected: the calendar is the shipped one
(Asia/Tokyo, 9:00-18:00, Monday 2026-11-23 a national holiday), and while the breaches are worked through the
injected clock runs at real speed from the deadline, so the lag it shows is real processing time.

Seeding (not measured) goes through the store's own operations, a few thousand leads per unit of work, and the
stage itself assesses every clock once:
  due    N_due leads handed off over the weekend (Saturday 2026-11-21 from 18:00 JST): every one of them has the
         same first-touch deadline, Thursday 26th 18:00 JST (the worst minute a weekend of handoffs makes), and
         has had its reminder the day before (those notices are sent before the measurement);
  later  the rest, handed off on Wednesday 25th between 10:00 and 17:00 JST: waiting for Friday's reminders.
Measured:
  idle scan  the stage's run_once one minute before the deadline, when nothing is due: the median of --scans
             runs, taken in rounds with its baselines, measured in the same run: an empty write transaction on the
             same store (the floor of any scan that leases) and the Slack outbox lane's idle pass (a queue claim of
             its own); and once more after the breaches;
  breaches   run_once again and again from the deadline, as the worker's lane does, until every due clock is
             breached: the wall time and breaches/s;
  lag        per clock, from its deadline to the commit of the pass that acted on it (the breach entry's `at`
             is when that pass began; the escalation is queued when it commits): p50, p99, max;
  notices    the sla_notice items queued, and the Slack messages sending them takes (the Slack lane drained
             without a webhook URL: it logs instead of posting, one batch = one message); the HubSpot feedback
             writes a breach queues, against their batching minimum;
  page       the SLA report (/admin/sla and /api/sla build it) over every open clock after the breaches, median of
             3, against a baseline measured in the same run: reading the open clocks alone.

Run: .venv/bin/python -m bench.sla [--clocks 100000] [--due 10000] [--scans 200] [--quick]
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.config import Settings, load_settings
from bridge.kernel.clock import parse_iso
from bridge.sla.load import load_sla
from bridge.sla_report import sla_report
from bridge.store import Store
from bridge.worker.outbox import BATCH_SIZES
from bridge.worker.run import Worker

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
#: Saturday 2026-11-21 18:00 JST: the due leads are handed off from here on, one a second, all before Tuesday.
WEEKEND = datetime(2026, 11, 21, 9, tzinfo=UTC)
#: Their first-touch deadline under the shipped standard policy (3 business days; Monday 23rd is a holiday).
DEADLINE = datetime(2026, 11, 26, 9, tzinfo=UTC)
#: The other leads are handed off on Wednesday 25th, 10:00-17:00 JST: reminders on Friday, deadlines on Monday.
LATER_FROM, LATER_SPAN = datetime(2026, 11, 25, 1, tzinfo=UTC), timedelta(hours=7)
#: When the seeded clocks are first assessed: Thursday 12:30 JST, after the due leads' reminders.
SEEDED_AT = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
#: Leads per unit of work while seeding.
SEED_CHUNK = 5000
#: The issue's targets.
TARGETS = {"idle_ms": 10.0, "lag_p99_s": 60.0}


class BenchClock:
    """The injected clock: stands still at `at`, or runs at real speed from `at` once `follow()` is called."""

    def __init__(self, at: datetime):
        self.at, self._since = at, None

    def __call__(self) -> datetime:
        if self._since is None:
            return self.at
        return self.at + timedelta(seconds=time.monotonic() - self._since)

    def set(self, at: datetime) -> None:
        self.at, self._since = at, None

    def follow(self) -> None:
        """From now on, real time passes from `at`."""
        self._since = time.monotonic()


@dataclass
class Bench:
    settings: Settings
    store: Store
    worker: Worker
    clock: BenchClock

    @property
    def timers(self):
        return self.worker.lanes["timers"][0]

    @property
    def slack(self):
        return self.worker.lanes["slack"][0]


@contextmanager
def bench_store(folder: Path) -> Iterator[Bench]:
    """A migrated store in `folder` and the worker over it, with a copy of the shipped mappings."""
    mappings = folder / "mappings"
    mappings.mkdir()
    for shipped in MAPPINGS.glob("*.yaml"):
        shutil.copy(shipped, mappings / shipped.name)
    settings = load_settings({"BRIDGE_DB": str(folder / "bridge.db"), "BRIDGE_MAPPINGS": str(mappings)}, dotenv=None)
    store = Store(settings.db_path, settings.db_busy_timeout_ms)
    store.upgrade()
    clock = BenchClock(WEEKEND)
    try:  # no connectors: the Slack lane runs without a webhook URL (it logs), the others are not run
        yield Bench(settings, store, Worker(settings, store, {}, clock, owner="bench", drain=True), clock)
    finally:
        store.close()


def handoff_times(due: int, later: int) -> list[datetime]:
    """When each lead was handed off: the due ones a second apart from Saturday 18:00 JST, the others spread
    over Wednesday's business hours."""
    return ([WEEKEND + timedelta(seconds=n) for n in range(due)]
            + [LATER_FROM + LATER_SPAN * (n / max(later, 1)) for n in range(later)])


def seed(bench: Bench, due: int, later: int) -> list[int]:
    """Hand off due + later leads and start their clocks, then let the stage assess each once and send the due
    leads' reminders; returns the due leads' ids."""
    store, ids = bench.store, []
    times = handoff_times(due, later)
    for start in range(0, len(times), SEED_CHUNK):
        with store.unit_of_work() as work:
            for n, at in enumerate(times[start:start + SEED_CHUNK], start):
                hubspot_id = str(100_000 + n)
                lead = work.leads.touch(at, hubspot_id=hubspot_id)
                work.leads.save_record(lead, 1, hubspot_id, f"lead{n}@bench.example",
                                       json.dumps({"lastname": f"テスト{n}", "firstname": "太郎"}), at)
                work.leads.save_decision(lead, 1, {"score": 105, "stage": "decision", "temperature": "warm",
                                                   "excluded": None, "qualifies": True, "criterion": "pricing"},
                                         "handoff by pricing", at)
                work.leads.mark_handed_off(lead, "pricing", "handoff by pricing", at)
                work.leads.link_record(lead, "salesforce", "Lead", f"00Q{n:015d}", at)
                work.clocks.start(lead, 1, at)
                ids.append(lead)
    bench.clock.set(SEEDED_AT)
    drain(bench.timers.run_once)
    with quiet("bridge.worker.outbox"):
        drain(bench.slack.run_once)  # the reminders go out now, so the breaches' notices are counted alone
    return ids[:due]


def drain(run_once: Callable[[], int]) -> list[int]:
    """Run a stage until it finds nothing to do; what each pass took."""
    taken = []
    while (n := run_once()):
        taken.append(n)
    return taken


def median_ms(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """The median wall and CPU milliseconds of `action`."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        action()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def empty_transaction(store: Store) -> None:
    with store.conn.transaction():
        pass


def idle_scans(bench: Bench, runs: int, at: datetime) -> dict[str, tuple[float, float]]:
    """The stage's scan at `at`, when nothing is due, and the baselines: (wall ms, CPU ms) medians, taken in
    rounds so that the machine's other work weighs on each alike."""
    bench.clock.set(at)
    cases = {"scan": lambda: _nothing(bench.timers.run_once()),
             "transaction": lambda: empty_transaction(bench.store),
             "outbox": lambda: _nothing(bench.slack.run_once())}
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    rounds = min(10, runs)
    for _ in range(rounds):
        for name, action in cases.items():
            found[name].append(median_ms(action, max(1, runs // rounds)))
    return {name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
            for name, got in found.items()}


def _nothing(taken: int) -> None:
    if taken:
        raise RuntimeError(f"an idle scan found {taken} item(s) to do: the seeding is wrong")


@dataclass(frozen=True)
class Pass:
    began: datetime  # the injected clock when run_once was called (the stage's `now` is taken just after)
    ended: datetime  # ... and when it returned, its work committed
    taken: int


def breach_burst(bench: Bench) -> list[Pass]:
    """From the deadline, with the injected clock running at real speed, run the stage until it is idle (as the
    worker's lane does); its passes."""
    clock, passes = bench.clock, []
    clock.set(DEADLINE)
    clock.follow()
    while True:
        began = clock()
        taken = bench.timers.run_once()
        if not taken:
            return passes
        passes.append(Pass(began, clock(), taken))


def lags(store: Store, due_ids: list[int], passes: list[Pass]) -> list[float]:
    """Seconds from each due clock's deadline to the commit of the pass that breached it (its breach entry's
    `at` is that pass's `now`)."""
    begins = [p.began for p in passes]
    found = []
    for lead in due_ids:
        breaches = [parse_iso(entry["at"]) for entry in store.clocks.story(lead) if entry["kind"] == "breach"]
        if len(breaches) != 1:
            raise RuntimeError(f"lead {lead} has {len(breaches)} breach entries, not one")
        deadline = parse_iso(store.clocks.current(lead)["deadline"])
        if deadline != DEADLINE:  # too many due leads to hand off before Tuesday's opening, one a second
            raise RuntimeError(f"lead {lead} is due {deadline}, not {DEADLINE}")
        acted = passes[bisect.bisect_right(begins, breaches[0]) - 1]
        found.append((acted.ended - deadline).total_seconds())
    return found


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


@dataclass(frozen=True)
class Notices:
    items: int  # sla_notice outbox items the breaches queued
    messages: int  # Slack messages sending them (one a batch)
    sent: int  # notices (sla_log entries) those messages carried
    largest: int  # items in the largest batch
    seconds: float  # the Slack lane's time to send them all
    feedback: int  # HubSpot feedback writes queued (bridge_sla_status = breached)

    @property
    def feedback_calls(self) -> int:
        """The fewest HubSpot calls that carry the feedback writes: one a batch."""
        return -(-self.feedback // BATCH_SIZES["feedback"])


def notices(bench: Bench, due: int) -> Notices:
    """What the breaches queued, then the Slack lane drained (it logs each notice without a webhook URL)."""
    outbox = bench.store.outbox
    queued = {kind: outbox.items("pending", limit=2 * due + 1, kind=kind) for kind in ("sla_notice", "feedback")}
    began = time.perf_counter()
    with quiet("bridge.worker.outbox"):
        batches = drain(bench.slack.run_once)
    seconds = time.perf_counter() - began
    ids = {item["id"] for item in queued["sla_notice"]}
    sent = sum(len(json.loads(item["result"])["notices"])
               for item in outbox.items("done", limit=4 * due + 1, kind="sla_notice") if item["id"] in ids)
    return Notices(len(queued["sla_notice"]), len(batches), sent, max(batches, default=0), seconds,
                   len(queued["feedback"]))


@contextmanager
def quiet(name: str) -> Iterator[None]:
    """The logger's INFO lines off for a while (a notice sent without Slack is one)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass
class Result:
    clocks: int
    due: int
    seed_seconds: float
    idle: dict[str, tuple[float, float]]  # case → (wall ms, CPU ms), medians
    passes: list[Pass]
    lag: list[float]
    notices: Notices
    load: tuple[float, float]  # the 1-minute load average before and after the measurement
    page: tuple[float, float] = (0.0, 0.0)  # the SLA report over every open clock, and reading the clocks alone (s)

    @property
    def breached(self) -> int:
        return sum(p.taken for p in self.passes)

    @property
    def longest_pass(self) -> float:
        return max(((p.ended - p.began).total_seconds() for p in self.passes), default=0.0)

    @property
    def seconds(self) -> float:
        """From the deadline until the last breach committed."""
        return (self.passes[-1].ended - DEADLINE).total_seconds() if self.passes else 0.0


def run(clocks: int, due: int, scans: int, folder: Path | None = None) -> Result:
    """The whole benchmark once, on a fresh store in `folder` (a temporary one when None)."""
    with tempfile.TemporaryDirectory(prefix="bench-sla-") as temporary, \
            bench_store(Path(folder or temporary)) as bench:
        began = time.monotonic()
        due_ids = seed(bench, due, clocks - due)
        seeded = time.monotonic() - began
        load = os.getloadavg()[0]
        idle = idle_scans(bench, scans, DEADLINE - timedelta(minutes=1))
        passes = breach_burst(bench)
        found = notices(bench, due)
        after = idle_scans(bench, scans, DEADLINE + timedelta(minutes=5))
        page = report_seconds(bench)
        result = Result(clocks, due, seeded, {**idle, "scan_after": after["scan"], "outbox_after": after["outbox"]},
                        passes,
                        lags(bench.store, due_ids, passes), found, (load, os.getloadavg()[0]), page)
    if result.breached != due:
        raise RuntimeError(f"{result.breached} clocks were breached, not {due}")
    return result


def report_seconds(bench: Bench) -> tuple[float, float]:
    """The SLA page's report over every open clock, and reading the open clocks alone: medians of 3, seconds."""
    rules = load_sla(bench.settings.mappings_dir)
    targets = [("salesforce", "Lead")]

    def timed(action: Callable[[], object]) -> float:
        runs = []
        for _ in range(3):
            began = time.perf_counter()
            action()
            runs.append(time.perf_counter() - began)
        return statistics.median(runs)

    return (timed(lambda: sla_report(bench.store, rules, targets, bench.clock())),
            timed(bench.store.clocks.open_clocks))


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def summary(r: Result) -> list[str]:
    """The Markdown table the README shows, with the targets."""
    scan, transaction, outbox = r.idle["scan"][0], r.idle["transaction"][0], r.idle["outbox"][0]
    p50, p99, worst = (percentile(r.lag, p) for p in (50, 99, 100))
    n = r.notices
    notices_ok = n.items == r.due and n.sent == r.due and n.largest <= BATCH_SIZES["sla_notice"] \
        and n.messages == -(-n.items // BATCH_SIZES["sla_notice"])
    return [
        f"| {r.clocks:,} open clocks, {r.due:,} due at the same minute | value | target |",
        "|---|---:|---|",
        f"| idle scan (nothing due), median | {scan:.2f} ms ({r.idle['scan'][1]:.2f} ms CPU) | "
        f"≤ {TARGETS['idle_ms']:.0f} ms: {verdict(scan <= TARGETS['idle_ms'])} |",
        f"| baseline: an empty write transaction on the same store | {transaction:.2f} ms "
        f"(scan {scan / transaction:.1f}×) | |",
        f"| baseline: the Slack outbox lane's idle pass | {outbox:.2f} ms (scan {scan / outbox:.1f}×) | |",
        f"| idle scan after the breaches ({r.due:,} clocks waiting for sales) | {r.idle['scan_after'][0]:.2f} ms | "
        f"≤ {TARGETS['idle_ms']:.0f} ms: {verdict(r.idle['scan_after'][0] <= TARGETS['idle_ms'])} |",
        f"| all {r.due:,} breaches acted on, from the deadline | {r.seconds:.2f} s in {len(r.passes)} passes "
        f"({r.breached / r.seconds:,.0f}/s) | |" if r.seconds else "| breaches acted on | none | |",
        f"| longest pass (one write transaction for most of it) | {r.longest_pass * 1000:.0f} ms | |",
        f"| lag, deadline → escalation committed: p50 / p99 / max | {p50:.2f} / {p99:.2f} / {worst:.2f} s | "
        f"p99 ≤ {TARGETS['lag_p99_s']:.0f} s: {verdict(p99 <= TARGETS['lag_p99_s'])} |",
        f"| Slack notices: queued items → messages (≤ {BATCH_SIZES['sla_notice']} a message) | {n.items:,} → "
        f"{n.messages:,} messages carrying {n.sent:,} notices, sent in {n.seconds:.2f} s | batched: "
        f"{verdict(notices_ok)} |",
        f"| HubSpot feedback writes queued (breached) | {n.feedback:,}: ≥ {n.feedback_calls:,} calls "
        f"of {BATCH_SIZES['feedback']} | |",
        f"| the Slack lane's idle pass with those {n.feedback:,} writes pending | "
        f"{r.idle['outbox_after'][0]:.2f} ms | |",
        f"| the SLA page's report over the {r.clocks:,} open clocks, median of 3 | {r.page[0]:.2f} s "
        f"(reading the clocks alone: {r.page[1]:.2f} s) | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clocks", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=200, help="idle scans measured (median)")
    parser.add_argument("--quick", action="store_true", help="10,000 clocks, 1,000 due, 50 scans")
    args = parser.parse_args()
    if args.quick:
        args.clocks, args.due, args.scans = 10_000, 1_000, 50
    if not 0 < args.due <= args.clocks:
        parser.error("--due must be between 1 and --clocks")
    print(f"seeding {args.clocks:,} clocks ({args.due:,} due at {DEADLINE:%Y-%m-%d %H:%M}Z) ...", flush=True)
    result = run(args.clocks, args.due, args.scans)
    print(f"seeded in {result.seed_seconds:.0f} s; 1-minute load average {result.load[0]:.2f} before the "
          f"measurement, {result.load[1]:.2f} after ({os.cpu_count()} cores)\n")
    print("\n".join(summary(result)))


if __name__ == "__main__":
    main()
