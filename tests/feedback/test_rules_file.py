"""feedback.yaml: the shipped file loads; every mistake is named at its line."""

from __future__ import annotations

from bridge.feedback.load import check_feedback_text, load_feedback
from tests.conftest import SHIPPED_MAPPINGS


def test_the_shipped_rules_load():
    rules = load_feedback(SHIPPED_MAPPINGS)
    assert {r.code for r in rules.reasons} >= {"no_budget", "no_authority", "no_need", "timing", "competitor",
                                                "unreachable", "duplicate", "other"}
    assert rules.for_object("kintone", "7").status_field == "ステータス"
    assert rules.fields("salesforce", "Task") == ["CallDisposition", "LastModifiedDate", "Status", "TaskSubtype",
                                                  "WhoId"]


def test_every_problem_is_named_at_its_line():
    text = """objects:
  - system: salesforce
    object: Lead
    kind: status
    statuses:
      Working - Contacted: called
  - system: salesforce
    object: Task
    kind: activity
reasons:
  - code: no_budget
    ja: 予算なし
    en: No budget
    values: [Budget]
  - code: no_budget
    ja: 予算なし
    en: No budget
    values: [budget]
lifecycle:
  won: winner
"""
    rules, problems = check_feedback_text(text, "feedback.yaml")
    assert rules is None
    shown = [str(p) for p in problems]
    assert any(s.startswith("feedback.yaml:6: objects[0].statuses") and "must be one of the sales events" in s
               for s in shown)
    assert any(s.startswith("feedback.yaml:2: objects[0].status_field") and "kind status needs status_field" in s
               for s in shown)
    assert any(s.startswith("feedback.yaml:7: objects[1].lead_field") and "needs lead_field and type_field" in s
               for s in shown)
    assert any(s.startswith("feedback.yaml:20: lifecycle") and "HubSpot's stages" in s for s in shown)


def test_a_reason_defined_twice_or_a_value_meaning_two_reasons_is_refused():
    text = """objects:
  - {system: kintone, object: "*", kind: status, status_field: s, statuses: {a: won}}
reasons:
  - {code: no_budget, ja: 予算なし, en: No budget, values: [Budget]}
  - {code: timing, ja: 時期尚早, en: Timing, values: [budget]}
  - {code: timing, ja: 時期尚早, en: Timing, values: []}
"""
    rules, problems = check_feedback_text(text, "feedback.yaml")
    assert rules is None
    assert [p.line for p in problems] == [5, 6]
    assert "'budget' already means 'no_budget'" in problems[0].message and "defined twice" in problems[1].message
