"""mappings/handoff.yaml: the shipped file loads; mistakes are reported with file:line, all at once."""

import pytest

from bridge.handoff.load import check_rules_text, load_rules
from bridge.mapping.problems import MappingError

GOOD = """\
behaviours:
  - activity: pricing_page_visit
    points: 30
handoff:
  - name: pricing
    score_at_least: 100
    activities: {pricing_page_visit: 1}
"""


def test_minimal_rules_load_with_default_stages():
    rules, problems = check_rules_text(GOOD, "handoff.yaml")
    assert problems == []
    assert rules.stages == (("awareness", 0), ("interest", 50), ("consideration", 80))


def test_every_problem_is_listed_with_its_line():
    text = """\
attributes:
  - name: role
    field: jobtitle
    contains_any: [部長]
    equals: 部長
    points: 20
behaviours:
  - activity: Pricing Page
    points: lots
stages:
  awareness: 0
  interest: 90
  consideration: 80
handoff: []
"""
    rules, problems = check_rules_text(text, "mappings/handoff.yaml")
    assert rules is None
    rendered = [str(p) for p in problems]
    assert any(r.startswith("mappings/handoff.yaml:2: attributes[0]") and "exactly one test" in r for r in rendered)
    assert any(r.startswith("mappings/handoff.yaml:8: behaviours[0].activity") for r in rendered)
    assert any(r.startswith("mappings/handoff.yaml:9: behaviours[0].points") for r in rendered)
    assert any("thresholds must rise" in r for r in rendered)
    assert any(r.startswith("mappings/handoff.yaml:14: handoff") for r in rendered)
    assert len(problems) == 5


def test_unknown_activity_in_a_criterion_names_the_known_ones():
    text = GOOD.replace("{pricing_page_visit: 1}", "{pricing_pag_visit: 1}")
    _, problems = check_rules_text(text, "handoff.yaml")
    assert len(problems) == 1
    assert problems[0].line == 7 and "known types: pricing_page_visit" in problems[0].message


def test_yaml_syntax_error_has_a_line():
    _, problems = check_rules_text("handoff:\n  - name: [unclosed\n", "handoff.yaml")
    assert problems[0].where == "YAML" and problems[0].line >= 2


def test_missing_file_refuses_with_a_hint(tmp_path):
    with pytest.raises(MappingError, match="handoff.yaml: .*is missing"):
        load_rules(tmp_path)
