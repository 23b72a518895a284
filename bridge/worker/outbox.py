"""The outbox dispatcher: handoff writes sent in batches per target, retried when the error is
retriable, dead-lettered with the reason when it is not (replayable once the mapping is fixed), and
people alerted once per target when writes start failing and again when they work again."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from bridge.config import WorkerSettings
from bridge.kernel.errors import AuthError, ConnectorError, Permanent
from bridge.live import LiveMappings
from bridge.mapping import RecordInvalid, apply_route
from bridge.store import Store
from bridge.worker.alerts import Alerts
from bridge.worker.notify import notify
from bridge.worker.retry import retry_at
from connectors.base import Connector

log = logging.getLogger(__name__)

# Items per claimed batch. Upserts: Salesforce sObject Collections take 200 per call; connectors with
# smaller batches (kintone, HubSpot: 100) split it into full calls themselves.
BATCH_SIZES = {"upsert": 200, "writeback": 100, "notify": 50}

#: HubSpot contact properties the write-back sets (the sandbox has them; create them in HubSpot).
SCORE_PROPERTIES = {"bridge_score": "score", "bridge_stage": "stage", "bridge_temperature": "temperature"}
RECORD_ID_PROPERTIES = {"salesforce": "salesforce_lead_id", "kintone": "kintone_record_id"}
MQL = "marketingqualifiedlead"
# HubSpot only moves a lifecycle stage forward through the API; a lead already past MQL keeps its stage.
# https://knowledge.hubspot.com/records/use-lifecycle-stages
BEFORE_MQL = ("", "subscriber", "lead")


def source_record(lead: Mapping) -> dict:
    """What a route reads for a lead: its HubSpot properties plus the service's own bridge.* values."""
    record = json.loads(lead["properties"]) if lead.get("properties") else {}
    record.setdefault("email", lead.get("email"))
    record.setdefault("hs_object_id", lead.get("hubspot_id"))
    record.update({"bridge.score": lead.get("score"), "bridge.stage": lead.get("stage"),
                   "bridge.temperature": lead.get("temperature"), "bridge.reason": lead.get("handoff_reason"),
                   "bridge.handoff_at": lead.get("handed_off_at")})
    return record


def write_back(lead: Mapping) -> dict:
    """The HubSpot properties that tell marketing about the handoff."""
    properties = {name: lead.get(column) for name, column in SCORE_PROPERTIES.items()}
    properties.update({name: lead.get(f"{system}_id") for system, name in RECORD_ID_PROPERTIES.items()
                       if lead.get(f"{system}_id")})
    current = (json.loads(lead["properties"]) if lead.get("properties") else {}).get("lifecyclestage") or ""
    if current in BEFORE_MQL:
        properties["lifecyclestage"] = MQL
    return {name: value for name, value in properties.items() if value is not None}


class Dispatcher:
    def __init__(self, store: Store, settings: WorkerSettings, mappings: LiveMappings,
                 connectors: Mapping[str, Connector], clock: Callable[[], datetime], owner: str):
        self.store = store
        self.settings = settings
        self.mappings = mappings
        self.connectors = connectors
        self.clock = clock
        self.owner = owner
        self.alerts = Alerts(store, settings, clock)

    def run_once(self) -> int:
        """Send one batch of ready writes, then the failed-write alerts that are due; return how many
        items the batch held. The alerts come after the batch's commit and cannot fail it."""
        taken = self._dispatch()
        try:
            self.alerts.send_due()
        except Exception:  # e.g. a locked database: the alerts stay due for the next loop
            log.exception("sending failed-write alerts failed; they stay due")
        return taken

    def _dispatch(self) -> int:
        items = self.store.claim_outbox(self.owner, self.clock(), self.settings.lease_seconds, BATCH_SIZES,
                                        timedelta(seconds=self.settings.linger_seconds))
        if not items:
            return 0
        leads = self.store.leads_by_id(item["lead_id"] for item in items)
        kind, target = items[0]["kind"], items[0]["target"]
        try:
            if kind == "upsert":
                self._upsert(target, items, leads)
            elif kind == "writeback":
                self._write_back(items, leads)
            else:
                self._notify(items, leads)
        except ConnectorError as error:
            self._settle_all(items, error)
        except Exception as error:  # a bug must not wedge the queue: retry with backoff, keep the reason
            log.exception("outbox %s %s: unexpected failure", kind, target)
            self._settle_all(items, error)
        return len(items)

    # -- kinds ---------------------------------------------------------------------------------
    def _upsert(self, target: str, items: list[dict], leads: dict[int, dict]) -> None:
        route = self.mappings.routes.get(target)
        if route is None or not route.enabled:
            raise Permanent("bridge", f"route {target} is missing or disabled; enable it in mappings/, then replay")
        connector = self._connector(route.target.system)
        payloads, sendable, invalid = [], [], []
        for item in items:
            try:
                payloads.append(apply_route(route, source_record(leads[item["lead_id"]])))
                sendable.append(item)
            except RecordInvalid as error:
                invalid.append((item, error))
        if invalid:  # the mapping cannot build these records: no call can succeed until it is fixed
            with self.store.transaction() as db:
                now = self.clock()
                for item, error in invalid:
                    self._bury(db, item, now, str(error), error.fields)
                    self._after_upsert(db, item["lead_id"], now)
        if not sendable:
            return
        try:
            results = connector.upsert(route.target.object, route.target.key, payloads)
        except ConnectorError as error:
            self._settle_all(sendable, error)
            return
        with self.store.transaction() as db:
            now = self.clock()
            buried = len(invalid)
            for item, result in zip(sendable, results, strict=True):
                if result.outcome in ("created", "updated"):
                    self.store.settle(db, item["id"], self.owner, now, "done",
                                      result={"outcome": result.outcome, "system": route.target.system,
                                              "object": route.target.object, "id": result.id})
                    if result.id:
                        self.store.set_lead_record_id(db, item["lead_id"], route.target.system, result.id)
                else:
                    reason = f"{route.target.system} {result.code or 'error'}: {result.message or ''}".strip()
                    buried += self._settle_failed(db, item, now, reason, result.fields,
                                                  result.category == "retriable")
                self._after_upsert(db, item["lead_id"], now)
            self._clean_batch(db, target, now, buried, results)

    def _after_upsert(self, db, lead_id: int, now: datetime) -> None:
        """Once no upsert of the lead is left in flight, tell HubSpot and sales (with the new record ids)."""
        if self.store.open_writes(db, lead_id, "upsert") == 0:
            self.store.enqueue(db, lead_id, "writeback", "hubspot", now)
            self.store.enqueue(db, lead_id, "notify", "slack", now)

    def _write_back(self, items: list[dict], leads: dict[int, dict]) -> None:
        hubspot = self._connector("hubspot")
        writes = {leads[i["lead_id"]]["hubspot_id"]: write_back(leads[i["lead_id"]]) for i in items}
        # Remembered before sending: the webhooks these writes cause can arrive before the reply does.
        self.store.remember_writes("hubspot", writes, self.clock())
        results = hubspot.upsert("contacts", "hs_object_id",
                                 [{"hs_object_id": hubspot_id, **props} for hubspot_id, props in writes.items()])
        by_id = {r.key: r for r in results}
        with self.store.transaction() as db:
            now = self.clock()
            buried = 0
            for item in items:
                hubspot_id = leads[item["lead_id"]]["hubspot_id"]
                result = by_id[hubspot_id]
                if result.outcome == "failed":
                    reason = f"hubspot {result.code or 'error'}: {result.message or ''}".strip()
                    buried += self._settle_failed(db, item, now, reason, result.fields,
                                                  result.category == "retriable")
                else:
                    self.store.settle(db, item["id"], self.owner, now, "done", result=writes[hubspot_id])
            self._clean_batch(db, items[0]["target"], now, buried, results)

    def _notify(self, items: list[dict], leads: dict[int, dict]) -> None:
        notices = [{**leads[i["lead_id"]], "record": source_record(leads[i["lead_id"]])} for i in items]
        channel = notify(self.settings.slack_webhook_url, notices)
        with self.store.transaction() as db:
            now = self.clock()
            for item in items:
                self.store.settle(db, item["id"], self.owner, now, "done", result={"sent_to": channel})
            self.store.note_clean_write(db, items[0]["target"], now)

    # -- outcomes ------------------------------------------------------------------------------
    def _connector(self, system: str) -> Connector:
        connector = self.connectors.get(system)
        problem = "no such connector is installed" if connector is None else connector.api_problem()
        if problem:
            raise AuthError(system, f"not configured: {problem}")
        return connector

    def _settle_failed(self, db, item: dict, now: datetime, reason: str, fields: Sequence[str],
                       retriable: bool) -> bool:
        """Retry the item later, or bury it; True when it became a dead letter."""
        if retriable and item["attempts"] < self.settings.max_attempts:
            when = retry_at(RuntimeError(reason), now, item["attempts"], self.settings)
            self.store.settle(db, item["id"], self.owner, now, "pending", error=reason, fields=fields, retry_at=when)
            return False
        self._bury(db, item, now, reason, fields)
        return True

    def _bury(self, db, item: dict, now: datetime, reason: str, fields: Sequence[str]) -> None:
        """A dead letter: kept with the reason and the fields, and counted in its target's alert."""
        log.error("outbox item %s (%s %s, lead %s) is a dead letter: %s", item["id"], item["kind"],
                  item["target"], item["lead_id"], reason)
        self.store.settle(db, item["id"], self.owner, now, "dead", error=reason, fields=fields)
        self.store.note_dead_letter(db, item["target"], item["kind"], reason, fields, now)

    def _clean_batch(self, db, target: str, now: datetime, buried: int, results: Sequence) -> None:
        """A batch that wrote something and buried nothing ends the target's failure episode (if any)."""
        if not buried and any(r.outcome != "failed" for r in results):
            self.store.note_clean_write(db, target, now)

    def _settle_all(self, items: list[dict], error: Exception) -> None:
        """A whole call failed: retry every item later (when that can help) or dead-letter them."""
        retriable = getattr(error, "retriable", True) or isinstance(error, AuthError)
        fields = getattr(error, "fields", ())
        with self.store.transaction() as db:
            now = self.clock()
            for item in items:
                if retriable and item["attempts"] < self.settings.max_attempts:
                    when = retry_at(error, now, item["attempts"], self.settings)
                    self.store.settle(db, item["id"], self.owner, now, "pending", error=str(error), retry_at=when)
                else:
                    self._settle_failed(db, item, now, str(error), fields, retriable=False)
                if item["kind"] == "upsert":
                    self._after_upsert(db, item["lead_id"], now)
