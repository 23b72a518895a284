"""The worker process: inbox events, then lead evaluation, then outbox writes, round and round."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime

from bridge.config import Settings
from bridge.kernel.clock import utcnow
from bridge.live import LiveMappings
from bridge.retention import DailyPrune
from bridge.store import Store
from bridge.worker.evaluate import Evaluator
from bridge.worker.handlers import HandlerContext
from bridge.worker.heartbeat import Heartbeat
from bridge.worker.inbox import Worker
from bridge.worker.outbox import Dispatcher
from connectors.base import Connector

log = logging.getLogger(__name__)


class Pipeline:
    """Each stage commits its own work, so a crash anywhere resumes from the last commit."""

    def __init__(self, settings: Settings, store: Store, clock: Callable[[], datetime] = utcnow,
                 owner: str | None = None, connectors: Mapping[str, Connector] | None = None,
                 drain: bool = False):
        # Draining (`bridge worker --once`) sends partial batches at once instead of lingering.
        worker_settings = replace(settings.worker, linger_seconds=0) if drain else settings.worker
        self.settings = worker_settings
        self.mappings = LiveMappings(settings)
        connectors = settings.connectors if connectors is None else connectors
        context = HandlerContext(store, lambda: self.mappings.rules)
        self.inbox = Worker(store, worker_settings, clock, owner, context)
        self.evaluator = Evaluator(store, worker_settings, self.mappings, connectors.get("hubspot"), clock)
        self.outbox = Dispatcher(store, worker_settings, self.mappings, connectors, clock, self.inbox.owner)
        # Housekeeping beside the three stages: finished rows past their retention go once a day.
        self.prune = DailyPrune(store, settings.retention, clock)
        self.heartbeat = Heartbeat(store, self.inbox.owner, clock)  # /readyz: is anyone processing the inbox?

    def run_once(self) -> int:
        """One pass over the three stages; returns how much work was taken (0: idle)."""
        self.mappings.refresh()
        self.prune.run_if_due()  # not counted as work: it must not keep a draining worker looping
        return self.inbox.run_once() + self.evaluator.run_once() + self.outbox.run_once()

    def drain(self) -> None:
        while self.run_once():
            pass

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; sleep only when every stage is idle."""
        log.info("worker %s started", self.inbox.owner)
        while not stop.is_set():
            try:
                work = self.run_once()
                self.heartbeat.beat()  # only after a pass that did not fail: a stuck or failing loop stops beating
                if work == 0:
                    stop.wait(self.settings.poll_seconds)
            except Exception:  # the loop must survive a bad moment (e.g. a locked database)
                log.exception("worker loop failed; retrying in %.1f s", self.settings.poll_seconds * 10)
                stop.wait(self.settings.poll_seconds * 10)
        log.info("worker %s stopped", self.inbox.owner)
