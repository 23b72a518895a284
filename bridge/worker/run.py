"""The worker process: a list of stages in lanes. The core lane runs inbox, evaluation and alerts; each external
system gets an outbox lane of its own, so a system that is slow (a request waiting out its timeout) or down
never holds up another system's writes or the inbox.

Why threads, one per lane: the work is waiting on sockets and on SQLite, both of which release the GIL, and each
lane must be able to wait on its own system without holding up the others. Processes would cost a connection
set-up, a copy of the mappings and a process to supervise per lane, for no throughput we need. Each lane uses
its own database connection (thread-local) and its own lease owner.

`bridge serve` runs two worker processes (BRIDGE_WORKER_PROCESSES=2): `--lanes intake` (inbox, evaluation,
timers) and `--lanes writes` (one lane per system). Measured under a burst, the lanes of one process spent 2–8
times their own CPU time waiting for the one interpreter lock; the leases already make several workers on one
database safe, so splitting intake from writes is only a choice of lanes per process.

`run_once` runs every stage once in this thread (tests and `bridge worker --once` use it: deterministic, with
an injected clock); `run` runs the lanes in threads until stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bridge.config import Settings
from bridge.jobs.reconcile import Reconciler
from bridge.kernel.clock import utcnow
from bridge.live import LiveMappings
from bridge.retention import DailyPrune
from bridge.store import Store
from bridge.worker.alerts import AlertsStage
from bridge.worker.catchup import CatchUpStage
from bridge.worker.evaluate import EvaluateStage
from bridge.worker.feedback import FeedbackStage
from bridge.worker.handlers import HandlerContext
from bridge.worker.heartbeat import Heartbeat
from bridge.worker.inbox import InboxStage
from bridge.worker.outbox import OutboxStage, Sender
from bridge.worker.reconcile import ReconcileStage
from bridge.worker.retry import RetryPolicy
from bridge.worker.stage import Stage
from bridge.worker.timers import TimersStage
from connectors.base import Connector

log = logging.getLogger(__name__)

#: Outbox lanes besides one per connector: Slack (handoff notices).
EXTRA_LANES = ("slack",)
#: Lanes that take work in (webhooks, evaluations, deadlines); every other lane writes out to a system.
INTAKE = ("core", "timers")
#: Groups of lanes a worker process can be given by name (`bridge worker --lanes intake`).
LANE_GROUPS = ("intake", "writes")


def retry_policy(settings: Settings) -> RetryPolicy:
    worker = settings.worker
    return RetryPolicy(base=timedelta(seconds=worker.retry_base_seconds),
                       cap=timedelta(seconds=worker.retry_max_seconds),
                       give_up_after=timedelta(hours=worker.retry_hours))


def select_lanes(wanted: str, known: Mapping[str, object]) -> list[str]:
    """The lanes a comma-separated list names: lane names, or the groups `intake` (core, timers) and `writes`
    (one per system). ValueError naming the known ones for anything else."""
    chosen: list[str] = []
    for name in (part.strip() for part in wanted.split(",") if part.strip()):
        if name == "intake":
            chosen += [lane for lane in known if lane in INTAKE]
        elif name == "writes":
            chosen += [lane for lane in known if lane not in INTAKE]
        elif name in known:
            chosen.append(name)
        else:
            raise ValueError(f"no lane {name!r}: choose from {', '.join([*LANE_GROUPS, *known])}")
    if not chosen:
        raise ValueError(f"name at least one lane: {', '.join([*LANE_GROUPS, *known])}")
    return chosen


class Worker:
    """Each stage commits its own work, so a crash anywhere resumes from the last commit."""

    def __init__(self, settings: Settings, store: Store, connectors: Mapping[str, Connector],
                 clock: Callable[[], datetime] = utcnow, owner: str | None = None, drain: bool = False,
                 lanes: str | None = None):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.mappings = LiveMappings(settings)
        worker = settings.worker
        # Draining (`bridge worker --once`) sends partial batches at once instead of lingering.
        linger = timedelta(seconds=0 if drain else worker.linger_seconds)
        policy = retry_policy(settings)
        lease = worker.lease_seconds
        context = HandlerContext(store, connectors, lambda: self.mappings.rules, lambda: self.mappings.feedback)
        sender = Sender(store, self.mappings, connectors, clock, worker.slack_webhook_url)
        systems = [*connectors, *EXTRA_LANES]
        self.lanes: dict[str, list[Stage]] = {"core": [
            InboxStage(store, context, clock, f"{self.owner}/inbox", policy, lease, worker.batch_size),
            EvaluateStage(store, self.mappings, connectors.get("hubspot"), clock, policy, lease, linger),
            OutboxStage(sender, f"{self.owner}/unrouted", policy, None, systems, lease, linger),
            AlertsStage(store, worker.slack_webhook_url, clock, policy),
        ]}
        # Deadlines in a lane of their own: a busy inbox or a slow system never delays a reminder or a breach.
        self.lanes["timers"] = [TimersStage(store, self.mappings, clock, f"{self.owner}/timers", lease)]
        for system in systems:
            self.lanes[system] = [OutboxStage(sender, f"{self.owner}/{system}", policy, system, systems, lease, linger)]
            if system in connectors:  # what sales did there, read in this system's own lane
                self.lanes[system].append(FeedbackStage(store, self.mappings, connectors, system, clock, policy, lease,
                                                        linger))
        # The nightly reconciliation in a lane of its own: its reads take minutes and wait out rate limits.
        if "hubspot" in connectors:
            reconciler = Reconciler(store, lambda: self.mappings.routes, lambda: self.mappings.feedback, connectors,
                                    settings.reconcile, clock, self._wait)
            self.lanes["reconcile"] = [ReconcileStage(store, reconciler, clock, worker.slack_webhook_url)]
        self.lanes["catchup"] = [CatchUpStage(store, self.mappings, connectors, settings.reconcile, clock)]
        if lanes is not None:  # this process runs some lanes; another `bridge worker --lanes` runs the rest
            chosen = select_lanes(lanes, self.lanes)
            self.lanes = {name: stages for name, stages in self.lanes.items() if name in chosen}
        # Housekeeping beside the stages: finished rows past their retention go once a day.
        self.prune = DailyPrune(store, settings.retention, clock)
        self.heartbeat = Heartbeat(store, self.owner, clock, list(self.lanes))  # /readyz: is every lane run?
        self._passed: dict[str, datetime] = {}  # each lane's last pass without an error
        self._stop = threading.Event()  # `run`'s: a reconciliation waiting out a rate limit ends its wait on it

    def _wait(self, seconds: float) -> bool:
        """Wait `seconds` unless the worker is stopped; whether to go on."""
        return not self._stop.wait(seconds)

    @property
    def stages(self) -> list[Stage]:
        return [stage for lane in self.lanes.values() for stage in lane]

    def run_once(self) -> int:
        """One pass over every stage, in this thread; returns how much work was taken (0: idle). A stage's
        error is raised (after the stages before it committed their work)."""
        self.mappings.refresh()
        self.prune.run_if_due()  # not counted as work: it must not keep a draining worker looping
        taken = sum(self._pass(lane, stages) for lane, stages in self.lanes.items())
        self._beat_if_healthy()
        return taken

    def _pass(self, lane: str, stages: list[Stage]) -> int:
        taken = sum(stage.run_once() for stage in stages)
        self._passed[lane] = self.clock()
        return taken

    def _beat_if_healthy(self) -> None:
        """Stamp the heartbeat (/readyz) only while every lane finishes passes without errors: a lane that keeps
        failing, or hangs longer than a lease, stops the beat. A lane waiting on one slow request does not."""
        since = self.clock() - timedelta(seconds=self.settings.worker.lease_seconds)
        if all(self._passed.get(lane, since) > since for lane in self.lanes):
            self.heartbeat.beat()

    def drain(self) -> None:
        while self.run_once():
            pass

    def run(self, stop: threading.Event) -> None:
        """Run each lane in its own thread until `stop` is set; this thread reloads the mappings, prunes, and
        beats the heartbeat while every lane is healthy."""
        self._stop = stop
        log.info("worker %s started: lanes %s", self.owner, ", ".join(self.lanes))
        self.heartbeat.register()  # /readyz learns this process's lanes now: if it hangs before a first pass, it shows
        threads = [threading.Thread(target=self._run_lane, args=(name, stages, stop), name=f"lane-{name}",
                                    daemon=True) for name, stages in self.lanes.items()]
        for thread in threads:
            thread.start()
        while not stop.is_set():
            try:
                self.mappings.refresh()
                self.prune.run_if_due()
                self._beat_if_healthy()
            except Exception:  # the loop must survive a bad moment (e.g. a locked database)
                log.exception("worker housekeeping failed; retrying")
            stop.wait(self.settings.worker.poll_seconds)
        for thread in threads:
            thread.join(timeout=self.settings.worker.lease_seconds)
        log.info("worker %s stopped", self.owner)

    def _run_lane(self, name: str, stages: list[Stage], stop: threading.Event) -> None:
        """Run the lane's stages round and round; sleep only when all of them are idle."""
        poll = self.settings.worker.poll_seconds
        while not stop.is_set():
            try:
                if self._pass(name, stages) == 0:
                    stop.wait(poll)
            except Exception:  # a bad moment (a locked database) must not end the lane
                log.exception("worker lane %s failed; retrying in %.1f s", name, poll * 10)
                stop.wait(poll * 10)
