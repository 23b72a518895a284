"""The outbox stage: writes sent in batches per target, each kind of write a small class in one registry.

A worker runs one outbox stage per lane (a system: salesforce, kintone, hubspot, slack), so a slow or failing
system never holds up another's writes. A whole call that fails is settled for every item of the batch (retry at a
due time, or a dead letter); a batch with per-record outcomes is settled item by item. A dead letter counts in its
target's alert; a clean batch ends the target's failure episode.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from bridge.feedback.load import FEEDBACK_FILE
from bridge.feedback.writeback import SALES_VALUES
from bridge.feedback.writeback import feedback as feedback_of
from bridge.kernel.budget import spending
from bridge.kernel.errors import AuthError, ConnectorError, Permanent
from bridge.live import LiveMappings
from bridge.mapping import TO_SOURCE, RecordInvalid, apply_route
from bridge.mapping.record import route_input
from bridge.store import LeaseLost, Store, Work
from bridge.worker.feedback import events_of
from bridge.worker.notify import notify, post_to_slack
from bridge.worker.retry import RetryPolicy
from bridge.worker.sla_notice import notice_line, notice_text, owner_of
from bridge.worker.sla_tasks import SlaTasks
from bridge.worker.stage import settle_failure
from connectors.base import Connector, UpsertResult

log = logging.getLogger(__name__)

#: HubSpot contact properties the write-back sets (the sandbox has them; create them in HubSpot).
SCORE_PROPERTIES = {"bridge_score": "score", "bridge_stage": "stage", "bridge_temperature": "temperature"}
RECORD_ID_PROPERTIES = {"salesforce": "salesforce_lead_id", "kintone": "kintone_record_id"}
MQL = "marketingqualifiedlead"
# HubSpot only moves a lifecycle stage forward through the API; a lead already past MQL keeps its stage.
# https://knowledge.hubspot.com/records/use-lifecycle-stages
BEFORE_MQL = ("", "subscriber", "lead")


def source_record(lead: Mapping) -> dict:
    """What a route reads for a lead: its HubSpot properties as last read plus the service's own bridge.* values."""
    return route_input(json.loads(lead["properties"]) if lead.get("properties") else {}, lead)


def write_back(lead: Mapping) -> dict:
    """The HubSpot properties that tell marketing about the handoff."""
    properties = {name: lead.get(column) for name, column in SCORE_PROPERTIES.items()}
    records = lead.get("records") or {}
    properties.update({name: records[system] for system, name in RECORD_ID_PROPERTIES.items() if records.get(system)})
    current = (json.loads(lead["properties"]) if lead.get("properties") else {}).get("lifecyclestage") or ""
    if current in BEFORE_MQL:
        properties["lifecyclestage"] = MQL
    return {name: value for name, value in properties.items() if value is not None}


@dataclass(frozen=True)
class Outcome:
    """What became of one item of a batch: written (with what to keep as its result), or failed."""

    ok: bool
    result: Mapping[str, Any] | None = None
    reason: str = ""
    fields: tuple[str, ...] = ()
    retriable: bool = False
    #: Why a record of a partly sent batch was not sent (a budget spent, a pause): settled like a failed call.
    error: ConnectorError | None = None

    @classmethod
    def of(cls, system: str, result: UpsertResult, written: Mapping[str, Any]) -> Outcome:
        if result.outcome in ("created", "updated"):
            return cls(True, written)
        if result.error is not None:
            return cls(False, reason=str(result.error), error=result.error)
        reason = f"{system} {result.code or 'error'}: {result.message or ''}".strip()
        return cls(False, reason=reason, fields=tuple(result.fields), retriable=result.category == "retriable")


@dataclass
class Sender:
    """What a kind of write may use: the mappings in force, the connectors, the store, the clock."""

    store: Store
    mappings: LiveMappings
    connectors: Mapping[str, Connector]
    clock: Callable[[], datetime]
    slack_webhook_url: str | None = field(default=None, repr=False)

    def connector(self, system: str) -> Connector:
        connector = self.connectors.get(system)
        problem = "no such connector is installed" if connector is None else connector.api_problem()
        if problem:
            raise AuthError(system, f"not configured: {problem}")
        return connector


class OutboxKind(ABC):
    """One kind of write. Subclasses set `name`, `batch_size` and `priority`, and implement `send` and `lane`."""

    name: ClassVar[str]
    batch_size: ClassVar[int]
    priority: ClassVar[str] = "handoff"  # whose share of the API budget the calls spend (bridge/kernel/budget.py)
    #: How many lingers (BRIDGE_BATCH_LINGER_MS) a batch that is not full may wait while leads still wait to be
    #: evaluated, for the next evaluated ones to fill it.
    burst_patience: ClassVar[int] = 2

    @abstractmethod
    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        """The system a write to `target` calls (the worker's lane for it); None when the target is unknown."""

    @abstractmethod
    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        """Write a batch for `target`: one Outcome per item, in order. Raise ConnectorError when the whole call
        failed (every item is then settled alike)."""

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:  # noqa: B027
        """Runs in the unit of work that settles `item` (outcome None: the whole call failed). Override to queue
        what follows a write; most kinds need nothing."""

    def after_batch(self, work: Work, settled: list[tuple[dict, Outcome | None]], now: datetime) -> None:
        """`after` for every (item, outcome) of a settled batch. Override to do it in a few statements for the
        whole batch (the unit of work holds the database's write lock: other lanes wait while it runs)."""
        for item, outcome in settled:
            self.after(work, item, outcome, now)


class Upserts(OutboxKind):
    """A handed-off lead created or updated in a sales system through its route; then HubSpot and sales hear."""

    name = "upsert"
    batch_size = 200  # Salesforce sObject Collections take 200; connectors with smaller calls split the batch

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        route = mappings.routes.get(target)
        return route.target.system if route is not None and route.enabled else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        route = sender.mappings.routes.get(target)
        if route is None or not route.enabled:
            raise Permanent("bridge", f"route {target} is missing or disabled; enable it in mappings/, then replay")
        connector = sender.connector(route.target.system)
        built: list[dict | Outcome] = []
        converted = sender.store.sales.converted_leads((item["lead_id"] for item in items), route.target.system,
                                                       route.target.object)
        for item in items:
            if item["lead_id"] in converted:
                # Converted into a Contact and an Opportunity: the Lead is closed for writes (a new handoff
                # cycle of the person reaches sales through its Contact, or a new route).
                built.append(Outcome(True, {"outcome": "skipped", "reason": "converted", "system": route.target.system,
                                            "object": route.target.object}))
                continue
            try:
                built.append(apply_route(route, source_record(leads[item["lead_id"]])))
            except RecordInvalid as error:  # the mapping cannot build it: no call can succeed until it is fixed
                built.append(Outcome(False, reason=str(error), fields=tuple(error.fields)))
        payloads = [b for b in built if not isinstance(b, Outcome)]
        results = iter(connector.upsert(route.target.object, route.target.key, payloads) if payloads else [])
        where = {"system": route.target.system, "object": route.target.object}
        return [b if isinstance(b, Outcome) else Outcome.of(
                    route.target.system, result := next(results),
                    {"outcome": result.outcome, **where, "id": result.id, "fields": b})
                for b in built]

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:
        self.after_batch(work, [(item, outcome)], now)

    def after_batch(self, work: Work, settled: list[tuple[dict, Outcome | None]], now: datetime) -> None:
        self.link_written(work, settled, now)
        # A lead with no upsert in flight any more (this batch's are settled): tell HubSpot and sales, with the new
        # record ids. A lead waiting for another system's upsert hears once, when that one is done too.
        lead_ids = [item["lead_id"] for item, _ in settled]
        in_flight = work.outbox.open_counts(lead_ids, "upsert")
        work.outbox.enqueue_many((lead_id, kind, target, now) for lead_id in lead_ids if not in_flight.get(lead_id)
                                 for kind, target in (("writeback", "hubspot"), ("notify", "slack")))


    @staticmethod
    def link_written(work: Work, settled: list[tuple[dict, Outcome | None]], now: datetime) -> None:
        """Link each lead to the record written, and remember the values as Bridge's own (echo memory)."""
        written = [(item["lead_id"], outcome.result) for item, outcome in settled
                   if outcome is not None and outcome.ok and outcome.result.get("id")]
        work.leads.link_records((lead_id, r["system"], r["object"], r["id"], now) for lead_id, r in written)
        # The record's own webhook (an outbound message, a kintone notification) brings these values back.
        by_system: dict[str, dict[str, Mapping]] = {}
        for _, r in written:
            by_system.setdefault(r["system"], {})[r["id"]] = r.get("fields") or {}
        for system, writes in by_system.items():
            work.echoes.remember(system, writes, now)


class Repairs(Upserts):
    """A reconciliation's repair (bridge/jobs/reconcile.py): the route's write sent again with the values just read,
    at the lowest priority of the API budget. Not a handoff: no notice and no write-back follow."""

    name = "repair"
    priority = "reconcile"

    def after_batch(self, work: Work, settled: list[tuple[dict, Outcome | None]], now: datetime) -> None:
        self.link_written(work, settled, now)


class WriteBacks(OutboxKind):
    """Score, stage, temperature, lifecycle stage and the sales record ids, written back to the HubSpot contact."""

    name = "writeback"
    batch_size = 100  # HubSpot batch calls take 100 inputs
    # Not the handoff itself: during a burst a partial batch waits longer for the rest of the leads (fewer calls,
    # and fewer of the webhooks its writes cause among the handoffs).
    burst_patience = 10

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        return "hubspot" if target == "hubspot" else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        hubspot = sender.connector("hubspot")
        writes = {leads[i["lead_id"]]["hubspot_id"]: write_back(leads[i["lead_id"]]) for i in items}
        # Remembered before sending: the webhooks these writes cause can arrive before the reply does.
        sender.store.echoes.remember("hubspot", writes, sender.clock())
        results = hubspot.upsert("contacts", "hs_object_id",
                                 [{"hs_object_id": hubspot_id, **props} for hubspot_id, props in writes.items()])
        by_id = {r.key: r for r in results}
        return [Outcome.of("hubspot", by_id[hubspot_id], writes[hubspot_id])
                for hubspot_id in (leads[i["lead_id"]]["hubspot_id"] for i in items)]


class Notices(OutboxKind):
    """Sales hears about its new leads: one Slack message per batch, or a log line."""

    name = "notify"
    batch_size = 50
    burst_patience = 10  # during a burst, sales hears of its leads in fuller messages

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        return "slack" if target == "slack" else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        notices = [{**leads[i["lead_id"]], "record": source_record(leads[i["lead_id"]])} for i in items]
        channel = notify(sender.slack_webhook_url, notices)
        return [Outcome(True, {"sent_to": channel}) for _ in items]


class FeedbackWrites(OutboxKind):
    """What sales did, written back to the HubSpot contact: lead status and lifecycle stage (bridge/feedback), and
    each route's `direction: to_source` fields read from the lead's record in that route's system. A lifecycle stage
    moved backwards is cleared first, as HubSpot requires (one call more for such a batch)."""

    name = "feedback"
    batch_size = 100  # HubSpot batch calls take 100 inputs
    priority = "feedback"  # after handoffs, before reconciliation, in every system's API budget

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        return "hubspot" if target == "hubspot" else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        rules = sender.mappings.feedback
        if rules is None:
            raise Permanent("bridge", f"{FEEDBACK_FILE} is missing from the mappings folder; add it (bridge init), "
                                      "then replay")
        hubspot = sender.connector("hubspot")
        writes, backward, must_land = {}, [], set()
        for item in items:
            lead = leads[item["lead_id"]]
            new_cycle = bool(lead["handed_off_at"]) and lead["cycle"] > 1
            told = feedback_of(rules, events_of(sender.store.sales.events_in_force(lead["id"])), _lifecycle(lead),
                               new_cycle=new_cycle)
            properties = {name: value for name, value in told.properties.items() if not name.startswith("bridge.")}
            for route in sender.mappings.targets():
                record = sender.store.leads.record_fields(lead["id"], route.target.system, route.target.object)
                if record is not None:
                    record = {**record, **told.properties, route.target.key: lead["hubspot_id"]}
                    written = apply_route(route, record, TO_SOURCE)
                    properties.update({k: v for k, v in written.items() if k != route.source.key})
                if new_cycle:  # an empty value is not sent by a mapping: the last cycle's word is cleared here
                    properties.update({f.source: "" for f in route.fields if f.writes_source()
                                       and f.target in SALES_VALUES and f.source not in properties})
            clock = sender.store.clocks.current(lead["id"])
            if clock is not None and clock["policy"]:  # the SLA clock: waiting, met, late, breached, recycled…
                properties["bridge_sla_status"] = "recycled" if clock["ended_by"] == "recycle" else clock["state"]
            if told.lifecycle:
                properties["lifecyclestage"] = told.lifecycle
                if told.backward:
                    backward.append(lead["hubspot_id"])
                if told.must_land:
                    must_land.add(lead["hubspot_id"])
            writes[lead["hubspot_id"]] = properties
        by_id = self._write(sender, hubspot, writes, backward)
        # HubSpot answers 2xx to a move back and keeps the later stage (one Bridge did not know of): check the stage
        # it answers, and where a stage that must land did not, clear and set it again.
        # https://knowledge.hubspot.com/records/use-lifecycle-stages
        kept = [i for i in must_land if by_id[i].outcome != "failed" and "lifecyclestage" in (by_id[i].values or {})
                and by_id[i].values["lifecyclestage"] != writes[i]["lifecyclestage"]]
        if kept:
            by_id.update(self._write(sender, hubspot, {i: {"lifecyclestage": writes[i]["lifecyclestage"]}
                                                       for i in kept}, kept))
        for hubspot_id, props in writes.items():  # the stage HubSpot keeps is the one to know (when it says)
            stage = (by_id[hubspot_id].values or {}).get("lifecyclestage")
            if "lifecyclestage" in props and stage:
                props["lifecyclestage"] = stage
        return [Outcome.of("hubspot", by_id[leads[i["lead_id"]]["hubspot_id"]],
                           writes[leads[i["lead_id"]]["hubspot_id"]]) for i in items]

    @staticmethod
    def _write(sender: Sender, hubspot: Connector, writes: dict[str, dict], backward: list[str]) -> dict:
        """Write the contacts' properties, clearing the stage first where it moves back; results by contact id."""
        # Remembered before sending: the webhooks these writes cause can arrive before the reply does.
        sender.store.echoes.remember("hubspot", {**{i: {"lifecyclestage": ""} for i in backward}, **writes},
                                     sender.clock())
        if backward:  # https://knowledge.hubspot.com/records/use-lifecycle-stages : clear, then set an earlier one
            hubspot.upsert("contacts", "hs_object_id", [{"hs_object_id": i, "lifecyclestage": ""} for i in backward])
        results = hubspot.upsert("contacts", "hs_object_id",
                                 [{"hs_object_id": hubspot_id, **props} for hubspot_id, props in writes.items()])
        return {r.key: r for r in results}

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:
        if outcome is not None and outcome.ok and outcome.result.get("lifecyclestage"):
            work.leads.note_property(item["lead_id"], "lifecyclestage", outcome.result["lifecyclestage"])


class SlaNotices(OutboxKind):
    """Reminders, escalations and recycles of the SLA clocks (bridge/worker/timers.py): one Slack message per
    batch, mentioning owners and managers, or a log line (ids only) without Slack."""

    name = "sla_notice"
    batch_size = 50

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        return "slack" if target == "slack" else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        rules = sender.mappings.sla
        if rules is None:
            raise Permanent("bridge", "sla.yaml is missing from the mappings folder; add it (bridge init), then replay")
        entries = sender.store.clocks.to_send(leads)
        owners = {lead_id: owner_of(rules, {route.target.system: sender.store.leads.record_fields(
                      lead_id, route.target.system, route.target.object) for route in sender.mappings.targets()})
                  for lead_id in {entry["lead_id"] for entry in entries}}
        batch = [(entry, leads[entry["lead_id"]], owners[entry["lead_id"]]) for entry in entries]
        if sender.slack_webhook_url and batch:
            post_to_slack(sender.slack_webhook_url, notice_text(rules, batch))
        else:
            for entry, lead, owner in batch:
                log.info("SLA %s: %s", entry["kind"], notice_line(rules, entry, lead, owner, slack=False))
        sent = {lead_id: [e["id"] for e in entries if e["lead_id"] == lead_id] for lead_id in leads}
        channel = "slack" if sender.slack_webhook_url else "log"
        return [Outcome(True, {"sent_to": channel, "notices": sent.get(i["lead_id"], [])}) for i in items]

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:
        if outcome is not None and outcome.ok:
            work.clocks.sent(outcome.result.get("notices", []), now)


class SalesUpdates(OutboxKind):
    """What an SLA clock writes to the lead's record in a sales system: the owner on escalation (`reassign`),
    a status such as Recycled when it goes back to marketing (`recycle`), as sla.yaml says."""

    name = "sla_update"
    batch_size = 200

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        return Upserts().lane(target, mappings)

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        rules, route = sender.mappings.sla, sender.mappings.routes.get(target)
        if rules is None or route is None or not route.enabled:
            raise Permanent("bridge", f"sla.yaml or route {target} is missing or disabled; restore it, then replay")
        system, object, key, writes = route.target.system, route.target.object, route.target.key, {}
        for item in items:
            fields = _sla_writes(rules, sender.store.clocks.current(item["lead_id"]) or {}, system)
            if fields and not sender.store.sales.converted(item["lead_id"], system, object):
                writes[item["id"]] = {key: leads[item["lead_id"]]["hubspot_id"], **fields}
        connector = sender.connector(system)
        # A kintone process-management status is not a field a write sets: the record is moved there by the
        # process action that leads there, after its other fields are written.
        status = connector.status_field(object) if writes else None
        plain = {i: {f: v for f, v in w.items() if f != status} for i, w in writes.items()}
        plain = {i: w for i, w in plain.items() if len(w) > 1}  # more than the key: a write of fields is due
        results = dict(zip(plain, connector.upsert(object, key, list(plain.values())) if plain else [], strict=True))
        moving = [i for i, w in writes.items() if status in w and (i not in results or results[i].outcome != "failed")]
        if moving:
            moved = connector.move_statuses(object, key, [(writes[i][key], writes[i][status]) for i in moving])
            results.update(zip(moving, moved, strict=True))
        where = {"system": system, "object": object}
        return [Outcome.of(system, result := results[item["id"]], {"outcome": result.outcome, **where,
                                                                   "id": result.id, "fields": writes[item["id"]]})
                if item["id"] in writes else Outcome(True, {"outcome": "skipped", **where}) for item in items]

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:
        if outcome is not None and outcome.ok and outcome.result.get("id"):
            # The record's webhook brings our own values back: an echo, not something sales did.
            work.echoes.remember(outcome.result["system"], {outcome.result["id"]: outcome.result["fields"]}, now)


def _sla_writes(rules, clock: Mapping, system: str) -> dict[str, str]:
    """The fields an SLA clock's actions write to `system`: the recycle's, else the breached policy's reassign."""
    done = json.loads(clock.get("done") or "[]")
    if "recycle" in done:
        return dict(rules.recycle.get(system) or {})
    policy = next((p for p in rules.policies if p.name == clock.get("policy")), None)
    if "breach" in done and policy is not None:
        return dict(policy.escalation.reassign.get(system) or {})
    return {}


def _lifecycle(lead: Mapping) -> str | None:
    """The contact's lifecycle stage as Bridge last knew it (read, or written by Bridge)."""
    properties = json.loads(lead["properties"]) if lead.get("properties") else {}
    return properties.get("lifecyclestage") or (MQL if lead.get("handed_off_at") else None)


#: Every kind of write, by the name stored in the outbox: adding a kind is adding a class here.
KINDS: dict[str, OutboxKind] = {kind.name: kind for kind in (Upserts(), Repairs(), WriteBacks(), Notices(),
                                                              FeedbackWrites(), SlaNotices(), SalesUpdates(),
                                                              SlaTasks())}
BATCH_SIZES = {name: kind.batch_size for name, kind in KINDS.items()}


def lane_targets(lane: str, mappings: LiveMappings) -> list[str]:
    """The outbox targets whose writes call `lane`'s system."""
    candidates = [*mappings.routes, "hubspot", "slack"]
    return [target for target in candidates
            if any(kind.lane(target, mappings) == lane for kind in KINDS.values())]


class OutboxStage:
    """Sends one batch per run for the targets of one lane; `lane` None: targets no lane knows (a route that
    was removed or disabled), which are buried with the reason so nothing waits forever."""

    def __init__(self, sender: Sender, owner: str, policy: RetryPolicy, lane: str | None, lanes: Sequence[str],
                 lease_seconds: int = 120, linger: timedelta = timedelta(seconds=0.3)):
        self.sender, self.owner, self.policy = sender, owner, policy
        self.lane, self.lanes = lane, tuple(lanes)
        self.name = f"outbox:{lane or 'unrouted'}"
        self.lease_seconds, self.linger = lease_seconds, linger
        # A batch is at most one call of the lane's system (kintone takes 100 records, Salesforce 200): a call that
        # fails then fails only its own writes, not the writes of a second call that was never sent.
        per_call = getattr(sender.connectors.get(lane or ""), "batch_size", None)
        self.batch_sizes = {kind: min(size, per_call) for kind, size in BATCH_SIZES.items()} if per_call \
            else BATCH_SIZES
        self.patience = {name: kind.burst_patience * linger for name, kind in KINDS.items()}

    @property
    def store(self) -> Store:
        return self.sender.store

    def run_once(self) -> int:
        mappings = self.sender.mappings
        if self.lane is not None:
            scope = {"targets": lane_targets(self.lane, mappings)}
            if not scope["targets"]:
                return 0
        else:
            scope = {"other_than": [t for lane in self.lanes for t in lane_targets(lane, mappings)]}
        items = self.store.outbox.claim(self.owner, self.sender.clock(), self.lease_seconds, self.batch_sizes,
                                        self.linger, patience=self.patience, **scope)
        if not items:
            return 0
        kind, target = KINDS.get(items[0]["kind"]), items[0]["target"]
        leads = self.store.leads.by_ids(item["lead_id"] for item in items)
        try:
            if kind is None:
                raise Permanent("bridge", f"unknown kind of write {items[0]['kind']!r}")
            with spending(kind.priority):
                outcomes = kind.send(self.sender, target, items, leads)
        except Exception as error:
            if not isinstance(error, ConnectorError):  # a bug must not wedge the queue: retried, reason kept
                log.exception("outbox %s %s: unexpected failure", items[0]["kind"], target)
            self._settle_call_failure(kind, items, error)
            return len(items)
        self._settle(kind, target, items, outcomes)
        return len(items)

    def _settle(self, kind: OutboxKind, target: str, items: list[dict], outcomes: list[Outcome]) -> None:
        with self.store.unit_of_work() as work:
            now = self.sender.clock()
            buried = 0
            # Settled in a few statements, not a few per item: the write lock is held meanwhile.
            done = [(item["id"], json.dumps(outcome.result, ensure_ascii=False))
                    for item, outcome in zip(items, outcomes, strict=True) if outcome.ok]
            if work.outbox.complete_many(done, self.owner, now) != len(done):
                raise LeaseLost(f"writes of this batch are no longer leased by {self.owner}")
            for item, outcome in zip(items, outcomes, strict=True):
                if not outcome.ok:
                    error = outcome.error or _ItemFailed(outcome.reason, outcome.retriable)
                    buried += self._fail(work, item, error, now, outcome.fields) == "bury"
            kind.after_batch(work, list(zip(items, outcomes, strict=True)), now)
            if not buried and any(o.ok for o in outcomes):
                work.alerts.note_clean_write(target, now)

    def _settle_call_failure(self, kind: OutboxKind | None, items: list[dict], error: BaseException) -> None:
        with self.store.unit_of_work() as work:
            now = self.sender.clock()
            for item in items:
                self._fail(work, item, error, now, getattr(error, "fields", ()))
            if kind is not None:
                kind.after_batch(work, [(item, None) for item in items], now)

    def _fail(self, work: Work, item: dict, error: BaseException, now: datetime, fields: Sequence[str]) -> str:
        step = settle_failure(work.outbox, item, self.owner, error, now, self.policy, fields)
        if step.action == "bury":
            log.error("outbox item %s (%s %s, lead %s) is a dead letter: %s", item["id"], item["kind"],
                      item["target"], item["lead_id"], error)
            work.alerts.note_dead_letter(item["target"], item["kind"], str(error), fields, now)
        return step.action


class _ItemFailed(Exception):
    """One record of a batch refused: retriable or not, as the system said."""

    plain = True  # its message already says which system refused and why

    def __init__(self, reason: str, retriable: bool):
        super().__init__(reason)
        self.retriable = retriable
