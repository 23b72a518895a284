"""The timers stage: SLA clocks that are due (a reminder, a deadline, a sales event) are assessed (bridge/sla), and
what they call for is done once: a notice queued, a breach escalated, a lead recycled to marketing."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.kernel.clock import iso, parse_iso
from bridge.live import LiveMappings
from bridge.sla.clock import BREACH, ENDING, RECYCLE, Action, Assessment, assess
from bridge.sla.rules import Policy, SlaRules
from bridge.store import Store, Work

log = logging.getLogger(__name__)

#: Clocks assessed per pass: a minute with 10,000 deadlines is worked through in batches of this many.
BATCH = 500
#: The store's cursor holding a fingerprint of the SLA rules the open clocks were last assessed under.
RULES_CURSOR = "sla_rules"
#: How long a clock that failed to be assessed (a bug, a broken lead row) waits before the next try.
RETRY_AFTER = timedelta(minutes=5)


class TimersStage:
    """Runs in a lane of its own, so a busy inbox or a slow system never delays a deadline."""

    name = "timers"

    def __init__(self, store: Store, mappings: LiveMappings, clock: Callable[[], datetime], owner: str,
                 lease_seconds: int = 120, batch: int = BATCH):
        self.store, self.mappings, self.clock, self.owner = store, mappings, clock, owner
        self.lease_seconds, self.batch = lease_seconds, batch
        self._rules: SlaRules | None = None  # the policies and calendar last in force

    def run_once(self) -> int:
        rules = self.mappings.sla
        if rules is None:
            return 0
        if rules != self._rules:
            self._recompute_if_changed(rules)
        self._rules = rules
        now = self.clock()
        claimed = self.store.clocks.claim(self.owner, now, self.lease_seconds, self.batch)
        if not claimed:
            return 0
        events = self.store.clocks.events_of({(c["lead_id"], c["cycle"]) for c in claimed})
        leads = self.store.leads.by_ids(c["lead_id"] for c in claimed)
        with self.store.unit_of_work() as work:
            for clock in claimed:
                try:
                    with work.savepoint():
                        self._assess(work, rules, clock, leads.get(clock["lead_id"]),
                                     events.get((clock["lead_id"], clock["cycle"]), []), now)
                except Exception as error:  # one broken clock must not hold up the others
                    log.exception("SLA clock %s (lead %s) could not be assessed; next try in %s", clock["id"],
                                  clock["lead_id"], RETRY_AFTER)
                    work.clocks.retry(clock["id"], self.owner, now, now + RETRY_AFTER,
                                      f"{type(error).__name__}: {error}", failed=True)
        return len(claimed)

    def _recompute_if_changed(self, rules: SlaRules) -> None:
        """Every open clock is assessed again when the rules differ from those last in force, also when they changed
        while no worker ran: the fingerprint is kept in the store, not only in this process."""
        fingerprint = hashlib.sha256(repr(rules).encode()).hexdigest()  # dataclass reprs: stable across processes
        if self.store.cursors.get(RULES_CURSOR) == fingerprint:
            return
        now = self.clock()
        woken = self.store.clocks.wake_all(now)
        self.store.cursors.set(RULES_CURSOR, fingerprint, now)  # after the wake: a crash between wakes them again
        if woken:
            log.info("SLA policies or calendar changed: the deadlines of %d open clock(s) are computed again", woken)

    def _assess(self, work: Work, rules: SlaRules, clock: dict, lead: dict | None, events: list[tuple[str, str]],
                now: datetime) -> None:
        # A clock keeps the policy it started under while that policy exists (a lead warming up later does not
        # change the promise made at its handoff); a new clock takes the first policy that applies to the lead.
        policy = next((p for p in rules.policies if p.name == clock["policy"]), None)
        if policy is None and lead is not None:
            policy = rules.policy_for(lead["temperature"], lead["handoff_criterion"])
        if policy is None:  # no policy applies (or the lead is gone): nothing to time
            work.clocks.settle(clock, self.owner, now, policy="", state="untimed", deadline=now, touched_at=None,
                               follow_ups=0, done=(), due=None, ended_by="no policy")
            return
        started = parse_iso(clock["started_at"])
        done = frozenset(json.loads(clock["done"] or "[]"))
        found = assess(policy, rules.calendar, started, [(kind, parse_iso(at)) for kind, at in events], done, now)
        self._log_changes(work, rules, policy, clock, found, now)
        if found.state != clock["state"]:  # HubSpot's bridge_sla_status follows the clock (met, breached, late…)
            work.outbox.enqueue(clock["lead_id"], "feedback", "hubspot", now)
        for action in found.actions:
            self._act(work, rules, policy, clock, lead, action, found, now)
        work.clocks.settle(clock, self.owner, now, policy=policy.name, state=found.state, deadline=found.deadline,
                           touched_at=found.touched_at, follow_ups=found.attempts,
                           done=sorted(done | {a.key for a in found.actions}), due=found.due, ended_by=found.ended_by)

    def _log_changes(self, work: Work, rules: SlaRules, policy: Policy, clock: dict, found: Assessment,
                     now: datetime) -> None:
        """The clock's story on the lead's timeline: started, its deadline moved, touched, ended."""
        lead_id, cycle, calendar = clock["lead_id"], clock["cycle"], rules.calendar
        started = parse_iso(clock["started_at"])
        if clock["deadline"] is None:
            work.clocks.log(lead_id, cycle, "started", started, {
                "policy": policy.name, "first_touch": str(policy.first_touch), "deadline": iso(found.deadline)})
        elif clock["deadline"] != iso(found.deadline):
            work.clocks.log(lead_id, cycle, "deadline_moved", now, {
                "policy": policy.name, "from": clock["deadline"], "to": iso(found.deadline),
                "why": "the SLA policies or calendar changed"})
        if found.touched_at is not None and clock["touched_at"] is None:
            work.clocks.log(lead_id, cycle, "touched", found.touched_at, {
                "after": _hours(calendar.between(started, found.touched_at)),
                "in_time": found.touched_at <= found.deadline})
        if found.ended_by in ENDING:
            work.clocks.log(lead_id, cycle, found.state, now, {"ended_by": found.ended_by})

    def _act(self, work: Work, rules: SlaRules, policy: Policy, clock: dict, lead: dict, action: Action,
             found: Assessment, now: datetime) -> None:
        lead_id, cycle = clock["lead_id"], clock["cycle"]
        details = {"policy": policy.name, "deadline": iso(found.deadline), "to": list(action.to)}
        if action.kind == "reminder":
            details["left"] = _hours(rules.calendar.between(now, found.deadline))
        elif action.kind == BREACH:
            details["reassign"] = sorted(policy.escalation.reassign)
            self._update_sales_records(work, lead_id, policy.escalation.reassign, now)
        elif action.kind == RECYCLE:
            reason = policy.follow_up.reason if policy.follow_up else None
            details.update(attempts=found.attempts, reason=reason)
            work.sales.add_event(lead_id, cycle, "recycled", "bridge", "sla", str(clock["id"]), now, reason, None,
                                 {"attempts": found.attempts, "policy": policy.name}, now)
            work.sales.reopen(lead_id, "recycled", reason, now)
            work.outbox.enqueue(lead_id, "feedback", "hubspot", now)  # recycled, 連絡不通, lifecycle back to lead
            self._update_sales_records(work, lead_id, rules.recycle, now)
        # A to-do for the owner where they work (sla.yaml `task:`): one per route into those systems, sent by the
        # sla_task outbox kind (bridge/worker/sla_tasks.py), which finds what to send in this log entry.
        systems = policy.task_for(action.key)
        tasks = [route.name for route in self.mappings.targets() if route.target.system in systems]
        if tasks:
            details["tasks"] = tasks
        work.clocks.log(lead_id, cycle, action.kind, now, details, notify=bool(action.to))
        if action.to:
            work.outbox.enqueue(lead_id, "sla_notice", "slack", now)
        if tasks:
            work.outbox.enqueue_many((lead_id, "sla_task", route, now) for route in tasks)
        log.info("lead %s: SLA %s (%s)", lead_id, action.kind, policy.name)

    def _update_sales_records(self, work: Work, lead_id: int, writes: dict[str, dict], now: datetime) -> None:
        for route in self.mappings.targets():
            if writes.get(route.target.system):
                work.outbox.enqueue(lead_id, "sla_update", route.name, now)


def _hours(span: timedelta) -> str:
    """Business time in words, e.g. `2:30` (hours:minutes)."""
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"
