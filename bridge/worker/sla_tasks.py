"""SLA to-dos for the lead's owner where they work (sla.yaml `task:`): a Salesforce Task, a kintone comment."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from bridge.kernel.clock import parse_iso
from bridge.kernel.errors import AuthError, ConnectorError, Permanent
from bridge.live import LiveMappings
from bridge.sla.rules import SlaRules
from bridge.worker.sla_notice import HEADLINES

if TYPE_CHECKING:
    from bridge.store import Work
    from bridge.worker.outbox import Outcome, Sender

log = logging.getLogger(__name__)

#: The clock actions that can leave a to-do (sla.yaml: a reminder's or the escalation's `task:`).
TASK_ACTIONS = ("reminder", "breach")
#: The headline of each kind's notice without its emoji: the Task's subject, the comment's first line.
SUBJECTS = {kind: HEADLINES[kind].split(" ", 1)[1] for kind in TASK_ACTIONS}
NOT_A_TOUCH = ("Bridge が SLA のために作成しました (電話・メールの記録ではありません) / "
               "Created by Bridge for the SLA: not a logged call or email")
# A Task cannot be owned by a queue (ids of groups and queues start 00G): it is then left to Salesforce, which
# assigns it to the user who creates it, and stays on the lead's record for whoever picks the lead up.
# https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_task.htm
_SALESFORCE_USER = re.compile(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")


class SlaTasks:
    """One Task per SLA action in Salesforce (sObject Collections, 200 a call) or one comment per action on the
    kintone record (kintone takes one a call), for the owner. Which actions an item sends is read from the lead's
    SLA log (those whose `tasks` name the item's route) less those earlier items of the same route sent; what an
    item sends is kept in its result, in the unit of work that settles it, so each is sent once.

    The OutboxKind interface of bridge/worker/outbox.py, which imports this module to register it (so this one
    imports nothing from it at import time)."""

    name: ClassVar[str] = "sla_task"
    batch_size: ClassVar[int] = 200  # a Salesforce collection; kintone's lane takes 100 (one call per comment)
    priority: ClassVar[str] = "handoff"
    burst_patience: ClassVar[int] = 2

    def lane(self, target: str, mappings: LiveMappings) -> str | None:
        route = mappings.routes.get(target)
        return route.target.system if route is not None and route.enabled else None

    def send(self, sender: Sender, target: str, items: list[dict], leads: dict[int, dict]) -> list[Outcome]:
        from bridge.worker.outbox import Outcome  # noqa: PLC0415 (outbox.py imports this module)

        rules, route = sender.mappings.sla, sender.mappings.routes.get(target)
        if rules is None or route is None or not route.enabled:
            raise Permanent("bridge", f"sla.yaml or route {target} is missing or disabled; restore it, then replay")
        system, object = route.target.system, route.target.object
        store, now = sender.store, sender.clock()
        where = {"system": system, "object": "Task" if system == "salesforce" else object}
        outcomes: dict[int, Outcome] = {}
        writes: list[tuple[int, int, dict]] = []  # (item id, log entry id, the Task's fields / the comment)
        for item in items:
            lead = leads[item["lead_id"]]
            entries = undone(store, lead["id"], target)
            record_id = _record(store, lead["id"], system, object) if entries else None
            if record_id is None:
                reason = "nothing left to send" if not entries else f"the lead has no {system} record for a to-do"
                outcomes[item["id"]] = Outcome(True, {"outcome": "skipped", **where, "reason": reason,
                                                      "entries": [e["id"] for e in entries]})
                continue
            fields = store.leads.record_fields(lead["id"], system, object) or {}
            owner = fields.get(rules.owner_fields[system]) if system in rules.owner_fields else None
            writes += [(item["id"], entry["id"], _write(rules, system, object, record_id, owner, entry, lead, now))
                       for entry in entries]
        sent: dict[int, list[tuple[int, str, dict]]] = {}  # item id -> [(log entry id, created id, write)]
        failed: dict[int, tuple[str, bool]] = {}  # item id -> (its first failure, retriable)
        if writes and system == "salesforce":
            connector = sender.connector(system)
            if not hasattr(connector, "create"):
                raise Permanent(system, "this connector cannot create records: upgrade it, then replay")
            for (item_id, log_id, write), result in zip(writes, connector.create("Task", [w for *_, w in writes]),
                                                        strict=True):
                if result.outcome == "created":
                    sent.setdefault(item_id, []).append((log_id, str(result.id), write))
                elif result.error is not None:
                    failed.setdefault(item_id, (str(result.error), result.error.retriable))
                else:
                    failed.setdefault(item_id, (f"salesforce {result.code}: {result.message}",
                                                result.category == "retriable"))
        elif writes:
            connector = sender.connector(system)
            if not hasattr(connector, "add_comment"):
                raise Permanent(system, f"the {system} connector cannot comment: set task: [salesforce], or upgrade it")
            stopped: ConnectorError | None = None
            for item_id, log_id, write in writes:
                if stopped is not None:  # a refused call (a budget spent): the rest wait for their item's retry
                    failed.setdefault(item_id, (str(stopped), True))
                    continue
                try:
                    sent.setdefault(item_id, []).append((log_id, connector.add_comment(**write), write))
                except ConnectorError as error:
                    if error.retriable or isinstance(error, AuthError):  # the system's refusal, not the record's
                        if not sent:
                            raise  # nothing was written: every item is retried alike, when the error says
                        stopped = error
                    failed.setdefault(item_id, (str(error), error.retriable))
        for item_id, done in sent.items():  # what failed beside what was sent is queued again by after_batch
            outcomes[item_id] = Outcome(True, {
                "outcome": "created", **where, "id": done[0][1], "ids": [c for _, c, _ in done],
                "entries": [log_id for log_id, _, _ in done],
                "written": {c: w for _, c, w in done} if system == "salesforce" else {}})
        for item_id, (reason, retriable) in failed.items():
            outcomes.setdefault(item_id, Outcome(False, reason=reason, retriable=retriable))
        return [outcomes[item["id"]] for item in items]

    def after_batch(self, work: Work, settled: list[tuple[dict, Outcome | None]], now: datetime) -> None:
        for item, outcome in settled:
            if outcome is None or not outcome.ok:
                continue  # retried (or buried) as it is
            # A Task's own outbound message brings these values back: ours, not something sales did.
            for task_id, fields in (outcome.result.get("written") or {}).items():
                work.echoes.remember(outcome.result["system"], {task_id: fields}, now)
            # An action logged while this item was in flight (its enqueue was a no-op then), or one that failed
            # beside those sent: a new item sends it.
            if undone(work, item["lead_id"], item["target"]):
                work.outbox.enqueue(item["lead_id"], self.name, item["target"], now)

    def after(self, work: Work, item: dict, outcome: Outcome | None, now: datetime) -> None:
        self.after_batch(work, [(item, outcome)], now)


def undone(store: Any, lead_id: int, target: str) -> list[dict]:
    """The lead's SLA actions that ask for a to-do through `target` (a route) and that no item of it sent yet."""
    asked = [entry for entry in store.clocks.story(lead_id) if entry["kind"] in TASK_ACTIONS
             and target in (_json(entry["details"]).get("tasks") or ())]
    if not asked:
        return []
    sent = {log_id for item in store.outbox.items("done", limit=1000, kind=SlaTasks.name, lead_id=lead_id,
                                                  target=target)
            for log_id in _json(item["result"]).get("entries") or ()}
    return [entry for entry in asked if entry["id"] not in sent]


def _record(store: Any, lead_id: int, system: str, object: str) -> str | None:
    """The lead's record the to-do goes on: its Lead (or app record); after a Lead's conversion, its Contact."""
    record_id = next((r["record_id"] for r in reversed(store.leads.records(lead_id))
                      if r["system"] == system and r["object"] == object), None)
    if record_id is not None and store.sales.converted(lead_id, system, object):
        fields = store.leads.record_fields(lead_id, system, object) or {}
        return fields.get("ConvertedContactId") or None  # a Task on a converted Lead is refused
    return record_id


def _write(rules: SlaRules, system: str, object: str, record_id: str, owner: Any, entry: Mapping, lead: Mapping,
           now: datetime) -> dict[str, Any]:
    """The Task (its fields) or the comment (add_comment's arguments) of one SLA action."""
    kind = entry["kind"]
    lines = _figures(rules, entry, lead)
    if system == "salesforce":
        task = {"WhoId": record_id, "Subject": SUBJECTS[kind],
                "ActivityDate": now.astimezone(rules.calendar.zone).date().isoformat(),  # today, where the team is
                "Status": "Not Started", "Priority": "High" if kind == "breach" else "Normal",
                "Description": "\n".join([*lines, NOT_A_TOUCH])}
        if isinstance(owner, str) and _SALESFORCE_USER.fullmatch(owner):
            task["OwnerId"] = owner
        return task
    # kintone: a user selection holds [{code, name}]: those users are mentioned (kintone puts the mentions before
    # the text); an owner kept as text is only named, since it may not be a login name.
    users = [str(u["code"]) for u in owner if isinstance(u, dict) and u.get("code")] if isinstance(owner, list) else []
    named = [f"担当 / owner: {owner}"] if owner and not users and not isinstance(owner, list) else []
    return {"app": object, "record_id": record_id, "mentions": users,
            "text": "\n".join([SUBJECTS[kind], *named, *lines, NOT_A_TOUCH])}


def _figures(rules: SlaRules, entry: Mapping, lead: Mapping) -> list[str]:
    """The policy, the deadline and the business-time figures, in the calendar's zone."""
    details, zone, calendar = _json(entry["details"]), rules.calendar.zone, rules.calendar
    lines = [f"SLA ポリシー / policy: {details.get('policy', '-')}"]
    policy = next((p for p in rules.policies if p.name == details.get("policy")), None)
    if policy is not None:
        lines.append(f"初回連絡の期限 / first touch within: {policy.first_touch}")
    handed_off = parse_iso(lead["handed_off_at"]) if lead.get("handed_off_at") else None
    if handed_off is not None:
        lines.append(f"引き渡し / handed off: {handed_off.astimezone(zone):%Y-%m-%d %H:%M}")
    if details.get("deadline"):
        lines.append(f"期限 / due: {parse_iso(details['deadline']).astimezone(zone):%Y-%m-%d %H:%M} ({zone})")
    if entry["kind"] == "reminder" and details.get("left"):
        lines.append(f"残り / left: {details['left']} (営業時間 / business hours)")
    if entry["kind"] == "breach" and handed_off is not None:
        spent = calendar.between(handed_off, parse_iso(entry["at"])).total_seconds()
        lines.append(f"経過 / since the handoff: {_hours(spent)} (営業時間 / business hours), no first touch")
    return lines


def _hours(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

