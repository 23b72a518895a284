"""The evaluation stage: read changed leads from HubSpot in batches, score them, and queue each
qualifying lead's handoff exactly once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bridge.handoff.evaluate import Activity, Decision, evaluate
from bridge.kernel.budget import spending
from bridge.kernel.clock import parse_iso
from bridge.kernel.errors import ConnectorError
from bridge.live import LiveMappings
from bridge.store import Store, Work
from bridge.worker.retry import RetryPolicy, next_step
from connectors.base import Connector

log = logging.getLogger(__name__)

READ_BATCH = 100  # HubSpot batch read takes 100 inputs per call
#: Read besides what the rules and routes use: shown in the handoff notice and the timeline.
ALWAYS_READ = ("email", "firstname", "lastname", "company", "jobtitle", "lifecyclestage", "hubspot_owner_id")


class EvaluateStage:
    name = "evaluate"

    def __init__(self, store: Store, mappings: LiveMappings, hubspot: Connector | None,
                 clock: Callable[[], datetime], policy: RetryPolicy, lease_seconds: int = 120,
                 linger: timedelta = timedelta(seconds=0.3)):
        self.store = store
        self.mappings = mappings
        self.hubspot = hubspot if hubspot is not None and hubspot.api_problem() is None else None
        self.clock = clock
        self.policy, self.lease_seconds, self.linger = policy, lease_seconds, linger
        self.failures = 0  # reads failed in a row: the back-off grows while HubSpot keeps failing

    def run_once(self) -> int:
        """Evaluate one batch of queued leads; return how many were taken."""
        now = self.clock()
        claimed = self.store.leads.claim_dirty(now, self.lease_seconds, READ_BATCH, self.linger)
        if not claimed:
            return 0
        try:
            with spending("handoff"):
                by_id, by_email = self._read(claimed)
        except ConnectorError as error:
            # Leads are not given up: they wait (still queued) until HubSpot answers, the wait growing.
            step = next_step(error, self.clock(), None, self.failures, self.policy)
            self.failures += step.failed
            when = step.at or self.clock() + self.policy.cap
            log.warning("reading %d lead(s) from HubSpot failed, retry at %s: %s", len(claimed), when, error)
            self.store.leads.release((lead["id"] for lead in claimed), when)
            return len(claimed)
        self.failures = 0
        with self.store.unit_of_work() as work:
            now = self.clock()
            self._evaluate(work, self._save_reads(work, claimed, by_id, by_email, now), now)
        return len(claimed)

    def _save_reads(self, work: Work, claimed: list[dict], by_id: dict[str, dict], by_email: dict[str, dict],
                    now: datetime) -> list[tuple[int, int]]:
        """Store the contacts read for the leads (in a few statements: one batch); returns (lead id, touches) of
        each lead to evaluate, in order. A merge (two rows turned out to be one person) changes the id, and the
        survivor is evaluated again later (touches -1); a lead merged away is left out."""
        reads = []
        for lead in claimed:
            if lead["needs_read"] and self.hubspot is not None:
                record = by_id.get(lead["hubspot_id"]) if lead["hubspot_id"] else by_email.get(lead["email"])
                if record is None:  # not (yet) in HubSpot: evaluated on what is known, handed off later
                    reads.append((lead["id"], lead["touches"], None, None, None))
                else:
                    reads.append((lead["id"], lead["touches"], record["hs_object_id"], record.get("email"),
                                  json.dumps(record, ensure_ascii=False)))
        saved = iter(work.leads.save_records(reads, now))
        evaluating = []
        for lead in claimed:
            lead_id, touches = lead["id"], lead["touches"]
            if lead["needs_read"] and self.hubspot is not None:
                lead_id = next(saved)
                touches = touches if lead_id == lead["id"] else -1
            if lead_id is not None:
                evaluating.append((lead_id, touches))
        return evaluating

    def _fields(self) -> list[str]:
        rules = self.mappings.rules
        names = {*ALWAYS_READ, *(r.field for r in rules.attributes), *(e.field for e in rules.exclusions)}
        for route in self.mappings.targets():
            names.update(route.source_fields())
        return sorted(names)

    def _read(self, leads: Sequence[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
        """The current HubSpot contacts of the leads that changed: by contact id, and by email for leads
        known only by an address (an activity came first)."""
        if self.hubspot is None:
            return {}, {}
        ids = [lead["hubspot_id"] for lead in leads if lead["needs_read"] and lead["hubspot_id"]]
        emails = [lead["email"] for lead in leads if lead["needs_read"] and not lead["hubspot_id"] and lead["email"]]
        fields = self._fields()
        by_id = self.hubspot.read("contacts", ids, fields) if ids else {}
        by_email = self.hubspot.read("contacts", emails, fields, id_field="email") if emails else {}
        return by_id, {email.lower(): record for email, record in by_email.items()}

    def _evaluate(self, work: Work, evaluating: list[tuple[int, int]], now: datetime) -> None:
        """Score each (lead id, touches), store the decisions, and queue each qualifying lead's handoff once; the
        leads and their activities are read, and the results written, a batch at a time."""
        leads = work.leads.by_ids(lead_id for lead_id, _ in evaluating)  # sees this batch's reads and merges
        ledgers = work.leads.activities_of(leads)
        decisions, handoffs = [], []
        for lead_id, touches in evaluating:
            lead = leads.get(lead_id)
            if lead is None:  # merged into another lead earlier in this batch
                continue
            decision, summary = self._decide(lead, ledgers.get(lead_id, []), now)
            decisions.append((lead_id, touches, decision.as_dict(), summary, now))
            # Only a lead whose HubSpot record was read is handed off: sales gets a name, not an id.
            if decision.qualifies and lead["hubspot_id"] and lead["properties"]:
                handoffs.append((lead_id, decision.criterion, summary))
        work.leads.save_decisions(decisions)
        handed = work.leads.mark_many_handed_off(handoffs, now)
        targets = self.mappings.targets()
        writes = [(route.name, "upsert") for route in targets] or \
            [("hubspot", "writeback"), ("slack", "notify")]  # nothing to create: HubSpot still learns of it
        started = []
        for lead_id, _, summary in handoffs:
            if lead_id in handed and lead_id not in started:  # once, if a merge brought it here twice
                started.append(lead_id)
                # Ids only: names and addresses are personal data and stay out of the logs (the lead's page has
                # them).
                log.info("lead %s (HubSpot contact %s) handed off: %s", lead_id, leads[lead_id]["hubspot_id"], summary)
        # The SLA clocks (bridge/worker/timers.py) start here.
        work.clocks.start_many(((lead_id, leads[lead_id]["cycle"]) for lead_id in started), now)
        work.outbox.enqueue_many((lead_id, kind, target, now) for lead_id in started for target, kind in writes)
        # Handed off again after sales gave it back: HubSpot hears that the last cycle's word no longer holds.
        work.outbox.enqueue_many((lead_id, "feedback", "hubspot", now) for lead_id in started
                                 if leads[lead_id]["cycle"] > 1)

    def _decide(self, lead: dict, ledger: list[dict], now: datetime) -> tuple[Decision, str]:
        """The lead's decision and its summary in words."""
        record = json.loads(lead["properties"]) if lead["properties"] else {}
        record.setdefault("email", lead["email"])
        # A lead sales gave back (recycled, disqualified) starts a new cycle: only what it does from then on counts
        # as behaviour, so it is handed off again for new interest, not at once for the old.
        since = lead["cycle_started_at"]
        activities = [Activity(a["type"], parse_iso(a["occurred_at"])) for a in ledger
                      if since is None or a["occurred_at"] >= since]
        decision = evaluate(record, activities, self.mappings.rules, now)
        summary = decision.summary()
        if decision.qualifies and lead["handed_off_at"] is None and not (lead["hubspot_id"] and lead["properties"]):
            summary += "; waiting for the HubSpot contact before handing off" if self.hubspot or lead["read_at"] \
                else "; not handed off: HubSpot API access is not configured (HUBSPOT_ACCESS_TOKEN)"
        return decision, summary
