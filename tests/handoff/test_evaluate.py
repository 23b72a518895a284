"""Evaluation of the shipped rules: the worked example, each rule type, boundaries, windows, exclusions."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.handoff.evaluate import Activity, evaluate, matching_keyword
from bridge.handoff.load import load_rules
from bridge.handoff.rules import AttributeRule, BehaviourRule, Criterion

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
RULES = load_rules(Path(__file__).resolve().parents[2] / "mappings")

DIRECTOR = {"email": "hanako.sato@example.co.jp", "jobtitle": "営業本部 部長", "industry": "SaaS / ソフトウェア",
            "numemployees": "100-500"}


def acts(*types, days_ago=1):
    return [Activity(t, NOW - timedelta(days=days_ago)) for t in types]


def test_worked_example_115_is_handed_off():
    decision = evaluate(DIRECTOR, acts("whitepaper_download", "whitepaper_download", "pricing_page_visit"), RULES, NOW)
    assert (decision.attribute_score, decision.behaviour_score, decision.score) == (45, 70, 115)
    assert decision.qualifies and decision.criterion == "料金ページ閲覧 (pricing intent)"
    assert decision.stage == "consideration" and decision.temperature == "hot"
    assert "handoff by 料金ページ閲覧" in decision.summary()
    assert {f.rule for f in decision.fired} == {"部長以上 (director or above)", "対象業種 (target industry)",
                                                "従業員50名以上 (50 or more employees)", "whitepaper_download",
                                                "pricing_page_visit"}


def test_worked_example_without_pricing_visit_85_is_not():
    decision = evaluate(DIRECTOR, acts("whitepaper_download", "whitepaper_download"), RULES, NOW)
    assert decision.score == 85 and not decision.qualifies and decision.criterion is None
    summary = decision.summary()
    assert "pricing_page_visit 0 < 1" in summary and "seminar_attended 0 < 1" in summary


@pytest.mark.parametrize("extra, expected", [(0, False), (5, True)])  # 95 + 0 = 95 (no), 95 + 5 = 100 (yes)
def test_boundary_99_and_100(extra, expected):
    lead = {**DIRECTOR}
    activities = acts("whitepaper_download", "pricing_page_visit") + acts(*["email_open"] * (extra // 5))
    decision = evaluate(lead, activities, RULES, NOW)
    assert decision.score == 95 + extra and decision.qualifies is expected


def test_exact_99_is_not_and_100_is():
    rules = replace(RULES, attributes=(AttributeRule("x", "jobtitle", "present", None, 69),))
    base = acts("pricing_page_visit")  # 30
    assert not evaluate({"jobtitle": "x"}, base, rules, NOW).qualifies  # 99
    rules100 = replace(rules, attributes=(AttributeRule("x", "jobtitle", "present", None, 70),))
    assert evaluate({"jobtitle": "x"}, base, rules100, NOW).qualifies  # 100


def test_seminar_criterion_at_80():
    lead = {"jobtitle": "課長", "industry": "製造業", "numemployees": "1000+"}  # 10 + 5 + 10 = 25
    decision = evaluate(lead, acts("seminar_attended", "email_click", "email_open"), RULES, NOW)  # +55 = 80
    assert decision.score == 80 and decision.criterion == "セミナー参加 (seminar attendee)"


@pytest.mark.parametrize(
    "title, points",
    [("代表取締役社長", 20), ("Vice President, Sales", 20), ("マーケティング課長", 10), ("Marketing Manager", 10),
     ("営業担当", 5), ("Sales Specialist", 5), ("ＣＥＯ", 20), ("Intern", 0), ("", 0)],
)
def test_role_keywords_japanese_and_english(title, points):
    decision = evaluate({"jobtitle": title}, [], RULES, NOW)
    assert decision.attribute_score == points


def test_ascii_keywords_match_whole_words_only():
    assert matching_keyword("Security consulting", ["IT"]) is None
    assert matching_keyword("IT services", ["IT"]) == "IT"
    assert matching_keyword("情報通信業", ["情報通信"]) == "情報通信"


def test_role_group_counts_only_the_best_rule():
    decision = evaluate({"jobtitle": "取締役 兼 営業部 課長"}, [], RULES, NOW)
    assert decision.attribute_score == 20


@pytest.mark.parametrize(
    "op, value, lead_value, hit",
    [("equals", "Tokyo", "tokyo", True), ("one_of", ["a", "b"], "B", True), ("at_least", 50, "50", True),
     ("at_least", 50, "49", False), ("at_most", 10, "11", False), ("greater_than", 1, "1", False),
     ("less_than", 1, "0", True), ("present", None, "x", True), ("present", None, " ", False),
     ("absent", None, None, True), ("at_least", 5, "many", False)],
)
def test_each_attribute_test(op, value, lead_value, hit):
    rules = replace(RULES, attributes=(AttributeRule("r", "f", op, value, 7),))
    assert evaluate({"f": lead_value}, [], rules, NOW).attribute_score == (7 if hit else 0)


def test_product_page_twice_or_more_gives_15_once():
    lead = {}
    assert evaluate(lead, acts("product_page_visit"), RULES, NOW).behaviour_score == 0
    assert evaluate(lead, acts("product_page_visit") * 2, RULES, NOW).behaviour_score == 15
    assert evaluate(lead, acts("product_page_visit") * 5, RULES, NOW).behaviour_score == 15


def test_look_back_window_and_cap():
    rules = replace(RULES, behaviours=(BehaviourRule("email_open", 5, cap=10, window_days=30),))
    recent, old = acts("email_open", days_ago=29), acts("email_open", days_ago=31)
    assert evaluate({}, recent + old, rules, NOW).behaviour_score == 5
    assert evaluate({}, recent * 3, rules, NOW).behaviour_score == 10


def test_future_activities_do_not_count_yet():
    assert evaluate({}, acts("pricing_page_visit", days_ago=-1), RULES, NOW).behaviour_score == 0


def test_criterion_activity_window():
    rules = replace(RULES, criteria=(Criterion("recent pricing", 0, None, (("pricing_page_visit", 1),), 7),))
    assert not evaluate({}, acts("pricing_page_visit", days_ago=8), rules, NOW).qualifies
    assert evaluate({}, acts("pricing_page_visit", days_ago=6), rules, NOW).qualifies


def test_temperature_follows_recent_behaviour():
    assert evaluate({}, acts("email_open", days_ago=1), RULES, NOW).temperature == "cold"
    assert evaluate({}, acts("whitepaper_download", days_ago=1), RULES, NOW).temperature == "warm"
    assert evaluate({}, acts("seminar_attended", "email_click", days_ago=1), RULES, NOW).temperature == "hot"
    assert evaluate({}, acts("seminar_attended", "email_click", days_ago=30), RULES, NOW).temperature == "cold"


@pytest.mark.parametrize(
    "lead, reason",
    [({**DIRECTOR, "email": "Taro.Yamada@GMAIL.com"}, "フリーメール"),
     ({**DIRECTOR, "email": "a@mail.yahoo.co.jp"}, "フリーメール"),
     ({**DIRECTOR, "email": "x@competitor.example"}, "競合"),
     ({**DIRECTOR, "jobtitle": "大学院生"}, "学生")],
)
def test_exclusions_are_never_handed_off(lead, reason):
    decision = evaluate(lead, acts("pricing_page_visit", "seminar_attended", "whitepaper_download"), RULES, NOW)
    assert decision.excluded.startswith(reason) and not decision.qualifies
    assert decision.summary().startswith("excluded")


def test_evaluation_is_pure():
    activities = acts("whitepaper_download", "pricing_page_visit")
    assert evaluate(DIRECTOR, activities, RULES, NOW) == evaluate(DIRECTOR, activities, RULES, NOW)
