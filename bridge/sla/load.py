"""Reads mappings/sla.yaml into `SlaRules`, with every problem pointing at its file and line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bridge.mapping.problems import Problem
from bridge.mapping.rulesfile import check_rules_text, load_rules_file
from bridge.sla.rules import Duration, SlaRules
from bridge.sla.schema import SlaSchema, to_rules

SLA_FILE = "sla.yaml"


def check_sla_text(text: str, file: str | Path) -> tuple[SlaRules | None, list[Problem]]:
    """Parse and validate an SLA text as if it were `file`: the rules, or every problem found."""
    return check_rules_text(text, file, SlaSchema(), to_rules, _semantic,
                            "the SLA rules are `key: value` lines with at least `policies:`")


def _semantic(rules: SlaRules) -> Iterator[tuple[tuple, str]]:
    """What the schema cannot see: repeated names, a policy no lead can reach, a reminder after the deadline,
    a to-do for an owner no `owner_fields` entry can name, a manager who is not in `owners`."""
    try:  # a calendar closed for good (closures all year) would leave every clock without a deadline
        opening = rules.calendar.next_opening(datetime(2026, 1, 5, tzinfo=UTC))
    except ValueError as error:
        yield ("calendar",), str(error)
        opening = None
    names: set[str] = set()
    for index, policy in enumerate(rules.policies):
        if policy.name in names:
            yield ("policies", index, "name"), f"ポリシー名 {policy.name!r} が重複しています / policy name used twice"
        names.add(policy.name)
        if policy.segment == "all" and index < len(rules.policies) - 1:
            yield ("policies", index, "applies_to"), (
                "すべてのリードに当てはまるポリシーの後ろのポリシーは使われません。最後に置いてください / a policy for "
                "every lead makes the ones after it unreachable: put it last")
        for number, reminder in enumerate(policy.reminders):
            if opening is not None and _before_the_clock(rules, opening, policy.first_touch, reminder.before):
                yield ("policies", index, "reminders", number, "before"), (
                    f"リマインドは期限 ({policy.first_touch}) より短くしてください / a reminder {reminder.before} "
                    f"before a deadline of {policy.first_touch} would come before the clock starts")
        asks = [(("policies", index, "reminders", n, "task"), r.task) for n, r in enumerate(policy.reminders)]
        asks.append((("policies", index, "escalation", "task"), policy.escalation.task))
        for where, systems in asks:
            if systems and not any(system in rules.owner_fields for system in systems):
                named = ", ".join(systems)
                yield where, (
                    f"owner_fields に {named} の担当者項目がありません / owner_fields names no owner field for "
                    f"{named}: the to-do would be for nobody; add e.g. `salesforce: OwnerId`")
    for id, owner in rules.owners.items():
        if owner.manager is not None and owner.manager not in rules.owners:
            yield ("owners", id, "manager"), (
                f"上長 {owner.manager!r} が owners にいません / manager {owner.manager!r} is not in owners; add them "
                "(with their Slack id) so escalations can mention them")


def _before_the_clock(rules: SlaRules, start: datetime, first_touch: Duration, before: Duration) -> bool:
    """Whether a reminder `before` the deadline of a clock started at `start` falls at or before the start, in the
    calendar's business time (so 10 business hours before a deadline of 1 business day of 9 hours is caught)."""
    calendar = rules.calendar
    deadline = calendar.add(start, first_touch.amount, first_touch.unit)
    return calendar.add(deadline, -before.amount, before.unit) <= start


def load_sla(folder: str | Path) -> SlaRules:
    """The SLA rules of the mappings folder; raise MappingError listing every problem (start-up refuses)."""
    return load_rules_file(folder, SLA_FILE, check_sla_text, "the SLA policies")
