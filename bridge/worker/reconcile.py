"""The scheduled reconciliation: a stage in a lane of its own that runs `bridge reconcile --doit` when the cron
schedule (BRIDGE_RECONCILE_SCHEDULE, in BRIDGE_RECONCILE_ZONE) comes round, and posts its summary to Slack.

A run reads for minutes and waits out rate limits (at the lowest priority of the API budget, it is the one asked to
wait): in its own lane it holds up no other stage. The first due time counts from when the worker first saw the
schedule, so a new install does not reconcile at its first start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bridge.jobs.reconcile import Reconciler
from bridge.kernel.clock import iso, parse_iso
from bridge.kernel.errors import BridgeError
from bridge.reconcile import report
from bridge.store import Store
from bridge.worker.notify import for_slack, post_to_slack

log = logging.getLogger(__name__)

#: Kinds of drift only a person can settle: the Slack summary names a few of them.
PERSON_KINDS = ("deleted", "orphan", "duplicate")
#: Where the schedule counts from until the first run (a cursor: it survives restarts).
SCHEDULED_FROM = "reconcile.scheduled_from"


class ReconcileStage:
    name = "reconcile"

    def __init__(self, store: Store, reconciler: Reconciler, clock: Callable[[], datetime], slack_url: str | None):
        self.store, self.reconciler, self.clock, self.slack_url = store, reconciler, clock, slack_url

    def run_once(self) -> int:
        now = self.clock()
        hubspot = self.reconciler.connectors.get("hubspot")
        if not self.reconciler.settings.schedule or hubspot is None or hubspot.api_problem() or not self._due(now):
            return 0
        result = self.reconciler.run(doit=True, trigger="schedule")
        log.info("scheduled reconciliation %s: %s", result.run_id, result.status)
        self._tell(result.run_id)
        return 1

    def _due(self, now: datetime) -> bool:
        if self.store.reconciliations.runs(limit=1):
            return self.reconciler.due(now)
        since = self.store.cursors.get(SCHEDULED_FROM)
        if since is None:
            self.store.cursors.set(SCHEDULED_FROM, iso(now), now)
            return False
        return self.reconciler.due(now, since=parse_iso(since))

    def _tell(self, run_id: int) -> None:
        if not self.slack_url:
            return
        runs = self.store.reconciliations
        run = runs.run(run_id)
        try:
            needs_person = [item for kind in PERSON_KINDS for item in runs.items(run_id, kind=kind, limit=5)]
            text = report.slack_summary(run, report.previous_run(runs.runs(limit=20), run), escape=for_slack,
                                        needs_person=needs_person[:5])
            post_to_slack(self.slack_url, text)
        except BridgeError as error:  # the report stays on the admin pages; Slack is a courtesy
            log.warning("reconciliation %s: the Slack summary was not posted: %s", run_id, error)
