"""SLA notices in words: a reminder before the first-touch deadline, a breach escalated, a lead recycled to
marketing; @-mentions for owners and managers whose Slack ids sla.yaml gives, plain names otherwise."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from bridge.kernel.clock import parse_iso
from bridge.sla.rules import SlaRules
from bridge.timeline import display_name
from bridge.worker.notify import for_slack

HEADLINES = {
    "reminder": "⏰ 初回連絡の期限が近づいています / First-touch deadline approaching",
    "breach": "🚨 初回連絡の期限を過ぎました / First-touch deadline missed",
    "recycle": "↩️ 不通が続いたためマーケティングに戻しました / Given back to marketing after unanswered follow-ups",
}


def owner_of(rules: SlaRules, records: Mapping[str, Mapping | None]) -> str | None:
    """The lead's owner id, from its records in the sales systems as last read ({system: fields})."""
    for system, field in rules.owner_fields.items():
        value = (records.get(system) or {}).get(field)
        if value:
            return str(value)
    return None


def mention(rules: SlaRules, person: str | None, slack: bool) -> str:
    """`<@U012AB3CD>` for a person whose Slack id is configured (trusted: it comes from sla.yaml), else their
    name or id as plain, escaped text."""
    if not person:
        return "担当者未設定 / no owner"
    known = rules.owners.get(person)
    if known is not None and known.slack and slack:
        return f"<@{known.slack}>"
    name = known.name if known is not None else person
    return for_slack(name) if slack else name


def notice_line(rules: SlaRules, entry: Mapping, lead: Mapping, owner: str | None, slack: bool) -> str:
    """One notice: who, which deadline, and who is called on (owner, manager)."""
    details = json.loads(entry["details"]) if entry.get("details") else {}
    zone = rules.calendar.zone
    deadline = parse_iso(details["deadline"]).astimezone(zone) if details.get("deadline") else None
    properties = json.loads(lead["properties"]) if lead.get("properties") else {}
    name = display_name(properties) or "(no name)"
    who = for_slack(name) if slack else f"lead {lead.get('id')}"  # the log gets ids only, no personal data
    if slack and lead.get("email"):
        who += " " + for_slack(f"<{lead['email']}>")  # escaped whole: <!channel|…> would be markup to Slack
    parts = [f"{who} ({details.get('policy', '-')})"]
    if deadline is not None:
        parts.append(f"期限 / due {deadline:%Y-%m-%d %H:%M}")
    if entry["kind"] == "reminder" and details.get("left"):
        parts.append(f"残り / left {details['left']} (営業時間 / business hours)")
    if entry["kind"] == "recycle":
        parts.append(f"不通 / unanswered attempts: {details.get('attempts')}")
    to: Sequence[str] = details.get("to") or ()
    called = []
    if "owner" in to:
        called.append(f"担当 / owner {mention(rules, owner, slack)}")
    if "manager" in to:
        manager = rules.owners[owner].manager if owner in rules.owners else None
        called.append(f"上長 / manager {mention(rules, manager, slack)}")
    if details.get("reassign"):
        called.append("担当を変更しました / reassigned in " + ", ".join(details["reassign"]))
    return " — ".join(parts + called)


def notice_text(rules: SlaRules, entries: Sequence[tuple[Mapping, Mapping, str | None]]) -> str:
    """One Slack message for a batch of (entry, lead, owner), grouped under each kind's headline."""
    lines: list[str] = []
    for kind, headline in HEADLINES.items():
        of_kind = [f"• {notice_line(rules, entry, lead, owner, True)}" for entry, lead, owner in entries
                   if entry["kind"] == kind]
        if of_kind:
            lines += [headline, *of_kind]
    return "\n".join(lines)
