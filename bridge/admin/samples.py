"""Records to preview with: pasted JSON read the way admins paste it, sample leads for handoff.yaml, sample
sales changes for feedback.yaml and sample handoff times for sla.yaml."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from bridge.handoff.evaluate import Activity
from bridge.kernel.clock import parse_iso
from bridge.mapping.sample import HUBSPOT_CONTACT


class RecordProblem(ValueError):
    """Pasted JSON that cannot be used as a record; the message says what is wrong with it."""


@dataclass(frozen=True)
class SampleLead:
    label: str  # an i18n key, or the literal "sample.pasted"
    lead: dict[str, Any]
    activities: tuple[Activity, ...]


def load_json(text: str) -> Any:
    """Pasted JSON, or a RecordProblem saying where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordProblem(f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None


def record_from(data: Any) -> dict[str, Any]:
    """A JSON object of field: value, or a HubSpot API object {"id": …, "properties": {…}}."""
    if not isinstance(data, dict):
        raise RecordProblem("it must be one JSON object { … }, not a list or a single value")
    if isinstance(data.get("properties"), dict):  # as HubSpot's API returns a contact
        return {"hs_object_id": data.get("id"), **data["properties"]}
    return data


def sample_leads(now: datetime) -> tuple[SampleLead, ...]:
    """The worked example of the shipped rules (115, handed off), the same lead at 85, and an exclusion."""

    def days_ago(kind: str, days: float) -> Activity:
        return Activity(kind, now - timedelta(days=days))

    papers = (days_ago("whitepaper_download", 3), days_ago("whitepaper_download", 2))
    lead = dict(HUBSPOT_CONTACT)
    free_mail = {**lead, "email": "hanako.sato@gmail.com", "firstname": "花子", "lastname": "佐藤"}
    return (
        SampleLead("sample.worked", lead, (*papers, days_ago("pricing_page_visit", 1))),
        SampleLead("sample.no_pricing", lead, papers),
        SampleLead("sample.free_mail", free_mail, (days_ago("seminar_attended", 1), *papers)),
    )


def lead_from(data: Any, now: datetime) -> SampleLead:
    """{"lead": {…}, "activities": [{"type": …, "days_ago": 1 | "occurred_at": ISO}]}, or a bare lead."""
    if isinstance(data, dict) and "lead" in data:
        lead, items = record_from(data["lead"]), data.get("activities", [])
    else:
        lead, items = record_from(data), []
    if not isinstance(items, list):
        raise RecordProblem('"activities" must be a list of {"type": …, "days_ago": …}')
    return SampleLead("sample.pasted", lead, tuple(_activity(index, item, now) for index, item in enumerate(items)))


def _activity(index: int, item: Any, now: datetime) -> Activity:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise RecordProblem(f'activities[{index}] needs a "type", e.g. {{"type": "seminar_attended"}}')
    if "occurred_at" in item:
        try:
            moment = parse_iso(str(item["occurred_at"]))
        except ValueError:
            raise RecordProblem(
                f"activities[{index}].occurred_at is not an ISO date-time such as 2026-04-01T09:00:00Z"
            ) from None
        return Activity(item["type"], moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    days = item.get("days_ago", 0)
    if not isinstance(days, int | float) or isinstance(days, bool) or days < 0:
        raise RecordProblem(f"activities[{index}].days_ago must be a number of days, 0 or more")
    return Activity(item["type"], now - timedelta(days=days))


@dataclass(frozen=True)
class SampleChange:
    """A sales record before and after a change, and the contact's lifecycle stage then: for feedback.yaml."""

    label: str  # an i18n key, or the literal "sample.pasted"
    system: str
    object: str
    before: dict[str, Any]
    after: dict[str, Any]
    lifecycle: str | None = "marketingqualifiedlead"


def sample_changes() -> tuple[SampleChange, ...]:
    """A rep's typical week: a call that did not get through, one that did, a Lead disqualified for budget, a
    Lead converted and its deal won, a kintone lead given back to marketing."""
    lead = {"Status": "Open - Not Contacted", "IsConverted": False}
    return (
        SampleChange("sample.call_attempted", "salesforce", "Task", {},
                     {"WhoId": "00Q5g0000012345", "TaskSubtype": "Call", "CallDisposition": "No Answer"}),
        SampleChange("sample.call_connected", "salesforce", "Task", {},
                     {"WhoId": "00Q5g0000012345", "TaskSubtype": "Call", "CallDisposition": "Connected"}),
        SampleChange("sample.disqualified", "salesforce", "Lead", lead,
                     {**lead, "Status": "Closed - Not Converted", "Disqualification_Reason__c": "予算なし"}),
        SampleChange("sample.converted", "salesforce", "Lead", lead,
                     {**lead, "Status": "Closed - Converted", "IsConverted": True, "ConvertedContactId": "003A",
                      "ConvertedOpportunityId": "006B"}),
        SampleChange("sample.won", "salesforce", "Opportunity", {"IsClosed": False, "IsWon": False},
                     {"IsClosed": True, "IsWon": True, "Amount": 1200000, "CloseDate": "2026-12-20"}, "opportunity"),
        SampleChange("sample.recycled", "kintone", "7", {"ステータス": "不通"},
                     {"ステータス": "マーケに戻す", "失注理由": "連絡不通"}),
    )


def change_from(data: Any) -> SampleChange:
    """{"system": …, "object": …, "before": {…}, "after": {…}, "lifecycle": …}, pasted by an admin."""
    if not isinstance(data, dict) or not isinstance(data.get("after"), dict):
        raise RecordProblem('paste {"system": "salesforce", "object": "Lead", "before": {…}, "after": {…}}')
    for name in ("system", "object"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise RecordProblem(f'"{name}" is needed, e.g. "salesforce" and "Lead", or "kintone" and an app id')
    before = data.get("before") or {}
    if not isinstance(before, dict):
        raise RecordProblem('"before" must be an object of field: value (or left out: a new record)')
    lifecycle = data.get("lifecycle", "marketingqualifiedlead")
    return SampleChange("sample.pasted", data["system"], data["object"], before, data["after"],
                        lifecycle if isinstance(lifecycle, str) else None)


@dataclass(frozen=True)
class SampleHandoff:
    """A moment a lead is handed off, for sla.yaml's preview; `at` is in the calendar's zone."""

    label: str  # an i18n key, or the literal "sample.pasted_time"
    at: datetime


def sample_handoffs(now: datetime, zone: tzinfo) -> tuple[SampleHandoff, ...]:
    """Now, and the coming Friday at 17:30 (half an hour before a usual close, on the eve of a weekend: where
    business time and calendar time part most)."""
    local = now.astimezone(zone)
    friday = local.date() + timedelta(days=(4 - local.weekday()) % 7)
    evening = datetime.combine(friday, time(17, 30), zone)
    if evening < local:  # this Friday's evening has passed: next week's
        evening = datetime.combine(friday + timedelta(days=7), time(17, 30), zone)
    return SampleHandoff("sample.handoff_now", local), SampleHandoff("sample.friday_evening", evening)


def handoff_from(data: Any, zone: tzinfo) -> SampleHandoff:
    """{"handed_off_at": "2026-12-28T17:00"} or the bare string, pasted by an admin; without an offset, the time is
    in the calendar's zone."""
    value = data.get("handed_off_at") if isinstance(data, dict) else data
    example = 'paste {"handed_off_at": "2026-12-28T17:00"} (without an offset: the calendar\'s zone)'
    if not isinstance(value, str):
        raise RecordProblem(example)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RecordProblem(f"{value!r} is not an ISO date-time; {example}") from None
    moment = moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)
    return SampleHandoff("sample.pasted_time", moment)
