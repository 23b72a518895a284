"""What a sales record's change means: the sales events (contacted, attempted, connected, qualified, disqualified,
converted, won, lost, recycled) told from the record as it was and as it is now. Pure: no store, no network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.feedback.followups import new_rows
from bridge.feedback.rules import FeedbackRules, LogRules, ObjectRules
from bridge.mapping.transforms import fold

#: A reason value no entry of the vocabulary knows: kept as the system said it, and flagged.
UNKNOWN_REASON = "unknown"


@dataclass(frozen=True)
class SalesEvent:
    """One thing sales did or decided about a lead, wherever it was recorded."""

    kind: str  # one of rules.EVENTS
    system: str
    object: str
    record_id: str
    occurred_at: datetime
    reason: str | None = None  # the vocabulary's code, UNKNOWN_REASON when the value is not in it
    reason_value: str | None = None  # the value as the system had it
    details: Mapping[str, Any] = field(default_factory=dict)  # status, call result, amount, close date…
    #: Records the change brought into being (a conversion's Contact and Opportunity): (object, id).
    links: tuple[tuple[str, str], ...] = ()

    @property
    def reason_known(self) -> bool:
        return self.reason != UNKNOWN_REASON


def lead_record_id(rules: FeedbackRules, system: str, object: str, record: Mapping[str, Any]) -> str | None:
    """For a record that is about a lead rather than being one of its records (a Task): the id of the lead's
    record it names (a Lead or a Contact: WhoId names either), to be found among the lead's records."""
    object_rules = rules.for_object(system, object)
    if object_rules is None or not object_rules.lead_field:
        return None
    return str(record.get(object_rules.lead_field) or "") or None


def resolve_reason(rules: FeedbackRules, value: Any) -> tuple[str | None, str | None]:
    """(code, value as given): the vocabulary's code for a reason value, UNKNOWN_REASON for a value it does not
    know (never dropped), (None, None) when there is no reason."""
    if value in (None, ""):
        return None, None
    text = str(value)
    folded = fold(text)
    for reason in rules.reasons:
        if folded == fold(reason.code) or any(folded == fold(v) for v in (*reason.values, reason.ja, reason.en)):
            return reason.code, text
    return UNKNOWN_REASON, text


def sales_events(rules: FeedbackRules, system: str, object: str, record_id: str, before: Mapping[str, Any] | None,
                 after: Mapping[str, Any], occurred_at: datetime, since: datetime | None = None) -> list[SalesEvent]:
    """The events a record's change means: `before` is the record as last applied (None: first seen), `after` as
    read now. A change that means nothing to sales (a phone number fixed) gives no event. `since`: when Bridge
    linked the record to the lead; rows of a follow-up log dated before it are not told when Bridge first sees
    the log (see followups.new_rows)."""
    object_rules = rules.for_object(system, object)
    if object_rules is None:
        return []
    tell = {"status": _status_events, "activity": _activity_events, "deal": _deal_events}[object_rules.kind]
    events = tell(rules, object_rules, system, object, record_id, before or {}, after, occurred_at)
    if object_rules.log is not None:
        events += _log_events(rules, object_rules, object_rules.log, system, object, record_id, before or {}, after,
                              occurred_at, since)
    return events


def _event(rules: FeedbackRules, object_rules: ObjectRules, kind: str, system: str, object: str, record_id: str,
           after: Mapping[str, Any], occurred_at: datetime, **details: Any) -> SalesEvent:
    reason, value = (None, None)
    if kind in ("disqualified", "lost", "recycled") and object_rules.reason_field:
        reason, value = resolve_reason(rules, after.get(object_rules.reason_field))
    return SalesEvent(kind, system, object, record_id, occurred_at, reason, value,
                      {k: v for k, v in details.items() if v not in (None, "")})


def _status_events(rules, object_rules, system, object, record_id, before, after, occurred_at) -> list[SalesEvent]:
    events = []
    status = after.get(object_rules.status_field)
    if status != before.get(object_rules.status_field):
        kind = dict(object_rules.statuses).get(str(status)) if status is not None else None
        if kind is not None and kind != "converted":  # a conversion is told by its flag, with its records
            events.append(_event(rules, object_rules, kind, system, object, record_id, after, occurred_at,
                                 status=status))
    flag = object_rules.converted_field
    if flag and _true(after.get(flag)) and not _true(before.get(flag)):
        links = tuple((linked, str(after[name])) for name, linked in object_rules.converted_links if after.get(name))
        event = _event(rules, object_rules, "converted", system, object, record_id, after, occurred_at,
                       status=status)
        events.append(replace(event, links=links))
    return events


def _activity_events(rules, object_rules, system, object, record_id, before, after, occurred_at) -> list[SalesEvent]:
    kind = _touch(object_rules, after)
    if kind is None or (before and _touch(object_rules, before) == kind):
        return []
    return [_event(rules, object_rules, kind, system, object, record_id, after, occurred_at,
                   type=after.get(object_rules.type_field),
                   result=after.get(object_rules.result_field) if object_rules.result_field else None)]


def _log_events(rules, object_rules, log: LogRules, system, object, record_id, before, after, occurred_at,
                since) -> list[SalesEvent]:
    """Each new row of the record's follow-up log is one touch, at the row's own time when it has one."""
    events = []
    for row_id, row, when in new_rows(log, before, after, since):
        kind = _touch(log, row)
        if kind is not None:
            events.append(_event(rules, object_rules, kind, system, object, record_id, after, when or occurred_at,
                                 type=row.get(log.type_field), row=row_id,
                                 result=row.get(log.result_field) if log.result_field else None))
    return events


def _touch(object_rules: ObjectRules | LogRules, record: Mapping[str, Any]) -> str | None:
    """A logged call reached the person (`connected`) or not (`attempted`); a logged email is `contacted`. A task
    whose status is not done (a planned call, Status Not Started) is no touch yet."""
    done = getattr(object_rules, "done", ())
    status = record.get(object_rules.status_field) if done and object_rules.status_field else None
    if status not in (None, "") and fold(status) not in {fold(d) for d in done}:
        return None
    kind = fold(record.get(object_rules.type_field) or "")
    if kind in {fold(c) for c in object_rules.calls}:
        result = fold(record.get(object_rules.result_field) or "") if object_rules.result_field else ""
        return "connected" if result and result in {fold(c) for c in object_rules.connected} else "attempted"
    if kind in {fold(e) for e in object_rules.emails}:
        return "contacted"
    return None


def _deal_events(rules, object_rules, system, object, record_id, before, after, occurred_at) -> list[SalesEvent]:
    closed, won = _true(after.get(object_rules.closed_field)), _true(after.get(object_rules.won_field))
    was_closed, was_won = _true(before.get(object_rules.closed_field)), _true(before.get(object_rules.won_field))
    amount = after.get(object_rules.amount_field) if object_rules.amount_field else None
    date = after.get(object_rules.date_field) if object_rules.date_field else None
    if won and not was_won:
        return [_event(rules, object_rules, "won", system, object, record_id, after, occurred_at, amount=amount,
                       close_date=date)]
    if closed and not won and not (was_closed and not was_won):
        return [_event(rules, object_rules, "lost", system, object, record_id, after, occurred_at, amount=amount,
                       close_date=date)]
    return []


def _true(value: Any) -> bool:
    """Salesforce sends booleans as JSON or as "true"/"false" (outbound messages)."""
    return value is True or str(value).lower() == "true"
