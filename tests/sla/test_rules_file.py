"""mappings/sla.yaml: the shipped file loads; mistakes are reported at file:line, in Japanese and English."""

from __future__ import annotations

from datetime import date

import pytest

from bridge.sla.load import check_sla_text, load_sla
from bridge.sla.rules import Duration
from tests.conftest import SHIPPED_MAPPINGS


def problems(text: str) -> list[tuple[int | None, str, str]]:
    rules, found = check_sla_text(text, "sla.yaml")
    assert (rules is None) == bool(found)
    return [(p.line, p.where, p.message) for p in found]


def test_the_shipped_policies():
    rules = load_sla(SHIPPED_MAPPINGS)
    hot, standard = rules.policies
    assert (hot.segment, hot.value, hot.first_touch) == ("temperature", "hot", Duration(3, "hours"))
    assert (standard.segment, standard.first_touch) == ("all", Duration(3, "days"))
    assert standard.follow_up.attempts == 3 and standard.follow_up.reason == "unreachable"
    assert rules.owner_fields == {"salesforce": "OwnerId", "kintone": "担当者"}
    assert rules.policy_for("hot", "pricing") is hot and rules.policy_for("warm", "pricing") is standard
    assert "お盆" in rules.calendar.closed_reason(date(2026, 8, 14))


@pytest.mark.parametrize(("written", "unit"), [("3 business days", "days"), ("3 days", "days"), ("3営業日", "days"),
                                              ("4 business hours", "hours"), ("4時間", "hours"),
                                              ("30 minutes", "minutes"), ("30分", "minutes")])
def test_durations_in_english_and_japanese(written, unit):
    rules, found = check_sla_text(f"policies:\n  - name: p\n    first_touch: {written}\n", "sla.yaml")
    assert found == [] and rules.policies[0].first_touch.unit == unit


def test_a_duration_it_cannot_read_names_the_line_and_shows_the_forms():
    [(line, where, message)] = problems("policies:\n  - name: p\n    first_touch: 3 weeks\n")
    assert (line, where) == (3, "policies[0].first_touch") and "3営業日" in message and "business days" in message


def test_a_catch_all_policy_before_others_and_a_reminder_past_the_deadline_are_refused():
    found = problems("policies:\n  - name: all\n    first_touch: 2 days\n    reminders: [{before: 2 days}]\n"
                     "  - name: hot\n    applies_to: {temperature: hot}\n    first_touch: 3 hours\n")
    assert [(line, where) for line, where, _ in found] == [(2, "policies[0].applies_to"),
                                                            (4, "policies[0].reminders[0].before")]


@pytest.mark.parametrize(("first_touch", "before", "refused"), [
    ("1 days", "10 hours", True),  # a business day is 9 hours by default (9:00-18:00): before the clock starts
    ("1 days", "7 hours", False),
    ("2 hours", "120 minutes", True),
    ("2 hours", "119 minutes", False),
    ("30 minutes", "1 days", True),
])
def test_a_reminder_is_refused_when_it_would_fall_before_the_clock_starts_in_any_units(first_touch, before, refused):
    found = problems(f"policies:\n  - name: p\n    first_touch: {first_touch}\n"
                     f"    reminders: [{{before: {before}}}]\n")
    assert [(line, where) for line, where, _ in found] == ([(4, "policies[0].reminders[0].before")] if refused else [])


def test_an_unknown_recipient_or_key_is_named():
    found = problems("policies:\n  - name: p\n    first_touch: 2 days\n    escalation: {to: [boss]}\n"
                     "owners:\n  '005A': {name: 山田, manager: '005B'}\nextra: 1\n")
    # the schema's problems come first; the manager missing from owners is checked once the shape is right
    assert [(line, where) for line, where, _ in found] == [(4, "policies[0].escalation.to[0]"), (7, "extra")]
    assert "owner (担当者)" in found[0][2]


def test_a_manager_not_in_owners_is_named():
    found = problems("policies:\n  - name: p\n    first_touch: 2 days\n"
                     "owners:\n  '005A': {name: 山田, manager: '005B'}\n")
    assert [(line, where) for line, where, _ in found] == [(5, "owners.005A.manager")]


def test_a_bad_calendar_section_is_reported_where_it_is():
    found = problems("calendar:\n  zone: Asia/Tokio\npolicies:\n  - name: p\n    first_touch: 2 days\n")
    assert [(line, where) for line, where, _ in found] == [(2, "calendar.zone")]


def test_an_impossible_date_is_a_problem_at_its_line_not_a_crash():
    found = problems("calendar:\n  closures:\n    - {name: 創立記念日, date: 2026-02-30}\npolicies:\n"
                     "  - name: p\n    first_touch: 2 days\n")
    [(line, where, message)] = found
    assert (line, where) == (3, "YAML") and "quote it" in message


def test_a_calendar_closed_for_good_is_refused():
    found = problems('calendar:\n  closures:\n    - {name: 休業, from: "01-01", to: "12-31"}\n'
                     "policies:\n  - name: p\n    first_touch: 2 days\n")
    assert [(line, where) for line, where, _ in found] == [(1, "calendar")] and "no business day" in found[0][2]
