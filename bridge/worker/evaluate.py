"""The evaluation stage: read changed leads from HubSpot in batches, score them, and queue each
qualifying lead's handoff exactly once."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bridge.handoff.evaluate import Activity, evaluate
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
            for lead in claimed:
                lead_id, touches = lead["id"], lead["touches"]
                if lead["needs_read"] and self.hubspot is not None:
                    record = by_id.get(lead["hubspot_id"]) if lead["hubspot_id"] else by_email.get(lead["email"])
                    if record is None:  # not (yet) in HubSpot: evaluated on what is known, handed off later
                        lead_id = work.leads.save_record(lead_id, touches, None, None, None, now)
                    else:
                        lead_id = work.leads.save_record(lead_id, touches, record["hs_object_id"], record.get("email"),
                                                         json.dumps(record, ensure_ascii=False), now)
                        touches = touches if lead_id == lead["id"] else -1
                if lead_id is not None:
                    self._evaluate(work, lead_id, touches, now)
        return len(claimed)

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

    def _evaluate(self, work: Work, lead_id: int, touches: int, now: datetime) -> None:
        lead = work.leads.get(lead_id)  # the transaction's own connection: sees this batch's changes
        if lead is None:  # merged into another lead earlier in this batch
            return
        hubspot_id, email, properties, handed_off_at, read_at = (
            lead[k] for k in ("hubspot_id", "email", "properties", "handed_off_at", "read_at"))
        record = json.loads(properties) if properties else {}
        record.setdefault("email", email)
        # A lead sales gave back (recycled, disqualified) starts a new cycle: only what it does from then on counts
        # as behaviour, so it is handed off again for new interest, not at once for the old.
        since = lead["cycle_started_at"]
        activities = [Activity(a["type"], parse_iso(a["occurred_at"])) for a in work.leads.activities(lead_id)
                      if since is None or a["occurred_at"] >= since]
        decision = evaluate(record, activities, self.mappings.rules, now)
        summary = decision.summary()
        # Only a lead whose HubSpot record was read is handed off: sales gets a name, not an id.
        known = bool(hubspot_id and properties)
        if decision.qualifies and handed_off_at is None and not known:
            summary += "; waiting for the HubSpot contact before handing off" if self.hubspot or read_at else \
                "; not handed off: HubSpot API access is not configured (HUBSPOT_ACCESS_TOKEN)"
        work.leads.save_decision(lead_id, touches, decision.as_dict(), summary, now)
        handing_off = decision.qualifies and known
        if handing_off and work.leads.mark_handed_off(lead_id, decision.criterion, summary, now):
            targets = self.mappings.targets()
            for route in targets:
                work.outbox.enqueue(lead_id, "upsert", route.name, now)
            if not targets:  # nothing to create: HubSpot still learns about the handoff
                work.outbox.enqueue(lead_id, "writeback", "hubspot", now)
                work.outbox.enqueue(lead_id, "notify", "slack", now)
            # Ids only: names and addresses are personal data and stay out of the logs (the lead's page has them).
            log.info("lead %s (HubSpot contact %s) handed off: %s", lead_id, hubspot_id, summary)
