"""A lead's story in one time-ordered list: the events received about it, its activities, every
decision with its explanation, its SLA clock, and the writes made for it (shown by the admin pages and /api/leads)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.kernel.clock import parse_iso
from bridge.mapping.names import join_name
from bridge.store import Store

# How much history one timeline shows: the newest of each kind (a lead opening every newsletter
# would otherwise make the page unreadable).
MAX_EVENTS = 500
MAX_ACTIVITIES = 1000
MAX_DECISIONS = 200
MAX_WRITES = 200
# Within the same instant the story reads: something arrived, it was evaluated (the handoff starts the SLA clock; a
# sales event touches it), then written.
_KIND_ORDER = {"event": 0, "sales": 1, "activity": 2, "decision": 3, "sla": 4, "cycle": 5, "write": 6}
SOURCE_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "kintone": "kintone"}
# A criterion check as evaluate.py words it: "score 85 < 100", "stage interest ≥ interest", "seminar_attended 0 < 1".
_CHECK = re.compile(r"^(?P<subject>\S+) (?P<value>\S+) (?P<op>≥|<) (?P<required>\S+)$")
_NEVER = datetime.min.replace(tzinfo=UTC)


# -- leads -------------------------------------------------------------------------------------
def _json(text: str | None, default: Any = None) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def display_name(properties: Mapping[str, Any]) -> str:
    """A contact's name as its script writes it: family name first in Japanese (山田 太郎), given name first
    in Latin letters (Emily Carter)."""
    return join_name(str(properties.get("lastname") or ""), str(properties.get("firstname") or ""))


def lead_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead for lists: who it is, where it stands, whether and where it was handed off."""
    properties = _json(row.get("properties"), {})
    if not isinstance(properties, dict):
        properties = {}
    records = {system: record_id for system, record_id in (row.get("records") or {}).items() if system != "hubspot"}
    return {
        "id": row["id"], "email": row.get("email"), "hubspot_id": row.get("hubspot_id"),
        "name": display_name(properties) or None, "company": properties.get("company") or None,
        "score": row.get("score"), "stage": row.get("stage"), "temperature": row.get("temperature"),
        "excluded": row.get("excluded"), "handed_off": row.get("handed_off_at") is not None,
        "handed_off_at": row.get("handed_off_at"), "handoff_criterion": row.get("handoff_criterion"),
        # Its records in the sales systems ({system: record id}); salesforce_id and kintone_id as before.
        "records": records, "salesforce_id": records.get("salesforce"), "kintone_id": records.get("kintone"),
        "evaluated_at": row.get("evaluated_at"), "created_at": row.get("created_at"),
    }


def lead_detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead with the latest decision in words and its HubSpot properties as last read."""
    properties = _json(row.get("properties"), {})
    return {**lead_summary(row), "handoff_reason": row.get("handoff_reason"), "summary": row.get("summary"),
            "read_at": row.get("read_at"), "properties": properties if isinstance(properties, dict) else {}}


# -- decisions ---------------------------------------------------------------------------------
def _check(text: str) -> dict[str, Any]:
    """One condition of a criterion, split so pages can word it in either language."""
    match = _CHECK.match(text)
    if match is None:
        return {"text": text, "passed": "≥" in text, "subject": None, "value": None, "required": None}
    return {"text": text, "passed": match["op"] == "≥", "subject": match["subject"], "value": match["value"],
            "required": match["required"]}


def explain(explanation: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored decision's explanation: the rules that fired (points, evidence), each criterion with
    its checks and the ones it missed, and `why` in one line."""
    data = _json(explanation, {}) if isinstance(explanation, str | None) else dict(explanation)
    if not isinstance(data, dict):
        data = {}
    fired = [{"rule": f.get("rule"), "points": f.get("points"), "because": f.get("because")}
             for f in data.get("fired") or [] if isinstance(f, dict)]
    criteria = []
    for c in data.get("criteria") or []:
        if not isinstance(c, dict):
            continue
        checks = [_check(str(x)) for x in c.get("checks") or []]
        criteria.append({"name": c.get("name"), "matched": bool(c.get("matched")), "checks": checks,
                         "missing": [x["text"] for x in checks if not x["passed"]]})
    criterion, excluded = data.get("criterion"), data.get("excluded")
    if excluded:
        why = f"excluded: {excluded}"
    elif criterion:
        checks = next((c["checks"] for c in criteria if c["name"] == criterion), [])
        why = f"criterion {criterion} matched: " + ", ".join(x["text"] for x in checks)
    elif criteria:
        why = "no criterion matched: " + "; ".join(f"{c['name']} missed {', '.join(c['missing'])}"
                                                   for c in criteria)
    else:
        why = "no handoff criteria are configured"
    return {"attribute_score": data.get("attribute_score"), "behaviour_score": data.get("behaviour_score"),
            "excluded": excluded, "criterion": criterion, "qualifies": bool(data.get("qualifies")),
            "fired": fired, "criteria": criteria, "why": why}


# -- writes ------------------------------------------------------------------------------------
def write_view(row: Mapping[str, Any], lead: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An outbox item with its JSON columns parsed (and, for lists, who the lead is)."""
    item = {
        "id": row["id"], "lead_id": row["lead_id"], "kind": row["kind"], "target": row["target"],
        "status": row["status"], "attempts": row["attempts"], "last_error": row.get("last_error"),
        "fields": _json(row.get("fields"), []), "result": _json(row.get("result")),
        "created_at": row["created_at"], "next_attempt_at": row.get("next_attempt_at"),
        "finished_at": row.get("finished_at"),
    }
    if lead is not None:
        summary = lead_summary(lead)
        item["lead"] = {key: summary[key] for key in ("email", "hubspot_id", "name", "company")}
    return item


def write_text(item: Mapping[str, Any]) -> str:
    head = f"{item['kind']} → {item['target']}: {item['status']}"
    result = item.get("result") if isinstance(item.get("result"), dict) else {}
    fields = f" [fields: {', '.join(map(str, item['fields']))}]" if item.get("fields") else ""
    if item["status"] == "done":
        if result.get("outcome"):
            words = [str(result[key]) for key in ("outcome", "system", "object", "id") if result.get(key)]
            return f"{head} ({' '.join(words)})"
        if result.get("sent_to"):
            return f"{head} (sent to {result['sent_to']})"
        if result:
            return f"{head} (wrote {', '.join(f'{k} = {v}' for k, v in result.items())})"
        return head
    if item["status"] == "dead":
        return f"{head} after {item['attempts']} attempt(s): {item.get('last_error') or 'no reason kept'}{fields}"
    if item.get("last_error"):
        return f"{head}, attempt {item['attempts']} failed ({item['last_error']}){fields}; " \
               f"next try {item.get('next_attempt_at')}"
    return head


# -- the timeline ------------------------------------------------------------------------------
def _event_entry(change: Mapping[str, Any]) -> dict[str, Any]:
    fields = _json(change["fields"], {})
    echo = change["change_type"] == "echo"
    source = SOURCE_NAMES.get(change["source"], change["source"])
    shown = ", ".join(f"{name} = {value}" for name, value in fields.items()) if isinstance(fields, dict) else ""
    if echo:
        text = f"{source} change ignored: echo of our own write-back" + (f" ({shown})" if shown else "")
    else:
        text = f"{source} {change['change_type']}" + (f": {shown}" if shown else "")
    return {"at": change["occurred_at"], "kind": "event", "text": text,
            "event": {"id": change["id"], "inbox_id": change["inbox_id"], "source": change["source"],
                      "source_name": source, "record_key": change["record_key"], "change_type": change["change_type"],
                      "fields": fields, "echo": echo, "ignored": echo, "recorded_at": change["recorded_at"]}}


def _activity_entry(activity: Mapping[str, Any], known_types: frozenset[str] | None) -> dict[str, Any]:
    properties = _json(activity["properties"], {})
    details = ", ".join(f"{k} = {v}" for k, v in list(properties.items())[:3]) if isinstance(properties, dict) else ""
    unknown = known_types is not None and activity["type"] not in known_types
    return {"at": activity["occurred_at"], "kind": "activity",
            "text": f"activity {activity['type']}" + (f" ({details})" if details else "")
            + (" — unknown type: no rule in handoff.yaml scores it" if unknown else ""),
            "activity": {"id": activity["id"], "type": activity["type"], "occurred_at": activity["occurred_at"],
                         "received_at": activity["received_at"], "properties": properties, "unknown_type": unknown}}


def _decision_entry(decision: Mapping[str, Any], handed_off_at: str | None) -> dict[str, Any]:
    handoff = bool(decision["qualifies"]) and decision["evaluated_at"] == handed_off_at
    return {"at": decision["evaluated_at"], "kind": "decision",
            "text": ("handed off — " if handoff else "evaluated — ") + decision["summary"],
            "decision": {"id": decision["id"], "score": decision["score"], "stage": decision["stage"],
                         "temperature": decision["temperature"], "qualifies": bool(decision["qualifies"]),
                         "excluded": decision["excluded"], "criterion": decision["criterion"],
                         "summary": decision["summary"], "handed_off": handoff,
                         "explanation": explain(decision["explanation"])}}


def _sales_entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """What sales did, told from a change in Salesforce or kintone (bridge/feedback)."""
    details = _json(event["details"], {})
    reason = f" ({event['reason_value']}" + (", not in the reason vocabulary" if event["reason"] == "unknown"
                                              else "") + ")" if event["reason_value"] else ""
    source = SOURCE_NAMES.get(event["system"], event["system"])
    return {"at": event["occurred_at"], "kind": "sales",
            "text": f"sales: {event['kind']}{reason} in {source} {event['object']} {event['record_id']}",
            "sales": {"id": event["id"], "event": event["kind"], "cycle": event["cycle"], "system": event["system"],
                      "source_name": source, "object": event["object"], "record_id": event["record_id"],
                      "reason": event["reason"], "reason_value": event["reason_value"],
                      "reason_known": event["reason"] != "unknown", "details": details,
                      "recorded_at": event["recorded_at"]}}


def _cycle_entry(cycle: Mapping[str, Any]) -> dict[str, Any]:
    """A handoff cycle that sales closed by giving the lead back: a later handoff is a new cycle."""
    return {"at": cycle["closed_at"], "kind": "cycle",
            "text": f"handoff cycle {cycle['cycle']} closed: {cycle['closed_by']}"
                    + (f" ({cycle['closed_reason']})" if cycle["closed_reason"] else "")
                    + "; the lead may be handed off again",
            "cycle": dict(cycle)}


def _sla_text(kind: str, details: Mapping[str, Any]) -> str:
    """One line for an entry of the clock's log, with its business-time figures (hours:minutes of business time)."""
    policy = f" ({details['policy']})" if details.get("policy") else ""
    to = ", ".join(details.get("to") or ()) if isinstance(details.get("to"), list) else ""
    if kind == "started":
        return f"SLA clock started{policy}: first touch within {details.get('first_touch')}, " \
               f"by {details.get('deadline')}"
    if kind == "reminder":
        return f"SLA reminder to {to or 'nobody'}{policy}: {details.get('left')} business hours left before " \
               f"{details.get('deadline')}"
    if kind == "breach":
        return f"SLA breached{policy}: no first touch by {details.get('deadline')}; escalated to {to or 'nobody'}" \
               + (f", reassigned in {', '.join(details['reassign'])}" if details.get("reassign") else "")
    if kind == "touched":
        return f"first touch after {details.get('after')} business hours, " \
               + ("in time" if details.get("in_time") else "after the deadline")
    if kind == "recycle":
        return f"recycled to marketing after {details.get('attempts')} unanswered attempts{policy}" \
               + (f" (reason {details['reason']})" if details.get("reason") else "")
    if kind in ("met", "late"):
        return f"SLA clock ended by {details.get('ended_by')}: first touch {'in time' if kind == 'met' else 'late'}"
    if kind == "deadline_moved":
        return f"SLA deadline moved from {details.get('from')} to {details.get('to')}{policy}: " \
               f"{details.get('why') or 'the SLA policies or calendar changed'}"
    return f"SLA {kind}"


def _with_tasks(text: str, details: Mapping[str, Any]) -> str:
    """An action that also left the owner a to-do (sla.yaml `task:`): through which routes."""
    tasks = details.get("tasks")
    return text + (f"; a to-do for the owner via {', '.join(map(str, tasks))}" if isinstance(tasks, list) and tasks
                   else "")


def _sla_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One step of the lead's SLA clock (bridge/worker/timers.py logs them): started, reminded, breached, touched,
    recycled, ended, its deadline moved."""
    details = _json(entry["details"], {})
    details = details if isinstance(details, dict) else {}
    return {"at": entry["at"], "kind": "sla", "text": _with_tasks(_sla_text(entry["kind"], details), details),
            "sla": {"id": entry["id"], "cycle": entry["cycle"], "event": entry["kind"], "details": details,
                    "notify": bool(entry["notify"]), "notified_at": entry.get("notified_at")}}


def clock_view(clock: Mapping[str, Any]) -> dict[str, Any]:
    """A lead's SLA clock of one handoff cycle as it stands: open (being timed) or ended, and its figures."""
    view = {key: clock.get(key) for key in ("cycle", "policy", "state", "started_at", "deadline", "touched_at",
                                            "follow_ups", "ended_at", "ended_by")}
    view["open"] = clock.get("status") != "done"
    view["next_check_at"] = clock.get("next_attempt_at") if view["open"] else None
    return view


def _sort_key(entry: Mapping[str, Any]) -> tuple:
    try:
        moment = parse_iso(entry["at"])
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (TypeError, ValueError):
        moment = _NEVER
    return moment, _KIND_ORDER[entry["kind"]], entry[entry["kind"]]["id"]  # ids compare within one kind


def timeline(store: Store, lead_id: int, known_types: frozenset[str] | None = None) -> dict[str, Any] | None:
    """The lead and its entries, oldest first; None when there is no such lead.

    Each entry has `at` (UTC, ISO 8601), `kind` (event, activity, decision, sales, cycle, sla or write), a
    one-line `text` and the details under a key named like its kind; `clocks` is the lead's SLA clock of each
    handoff cycle. With `known_types` (the activity types the handoff rules use), an activity of any other type
    is marked `unknown_type`: it was kept but scores nothing.
    """
    row = store.leads.by_ids([lead_id]).get(lead_id)
    if row is None:
        return None
    writes = [write_view(item) for item in store.outbox.items(lead_id=lead_id, limit=MAX_WRITES)]
    activities = store.leads.activities(lead_id)[-MAX_ACTIVITIES:]
    entries = [_event_entry(change) for change in store.changes.of_lead(lead_id, MAX_EVENTS)]
    entries += [_activity_entry(activity, known_types) for activity in activities]
    entries += [_decision_entry(decision, row["handed_off_at"])
                for decision in store.leads.decisions(lead_id, limit=MAX_DECISIONS)]
    entries += [_sales_entry(event) for event in store.sales.events(lead_id)]
    entries += [_cycle_entry(cycle) for cycle in store.sales.cycles(lead_id)]
    entries += [_sla_entry(entry) for entry in store.clocks.story(lead_id)]
    entries += [{"at": item["created_at"], "kind": "write", "text": write_text(item), "write": item}
                for item in writes]
    entries.sort(key=_sort_key)
    clocks = [clock_view(clock) for clock in store.clocks.of_lead(lead_id)]
    return {"lead": lead_detail(row), "entries": entries, "clocks": clocks}
