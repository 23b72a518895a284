"""Reconciliation in words: every kind, action and reason has both languages, and each item reads as sentences."""

from __future__ import annotations

import re

import pytest

from bridge.reconcile import words
from bridge.reconcile.model import ACTIONS, KINDS, REASONS, Drift

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
RUN_STATUSES = ("running", "planned", "applied", "refused", "failed", "interrupted")  # migration 0011
#: The kind each reason is found as (bridge/reconcile/plan.py).
KIND_OF = {"not_in_target": "missing", "source_wins": "differs", "target_wins": "differs",
           "deleted_in_target": "deleted", "deleted_in_hubspot": "deleted", "no_lead": "orphan",
           "same_key": "duplicate", "same_email": "duplicate", "sales_value_missing": "writeback",
           "score_stale": "stale"}
#: A value for each `details` key that can be found again in the words.
DETAIL_VALUES = {"route": "route-x9", "key_field": "Key_Field__c", "key": "77123", "rule": "to_target",
                 "deleted_at": "2026-12-01T01:02:00Z", "email": "shared@example.co.jp", "records": ["00QA1", "00QB2"]}


def sample(reason: str, **overrides) -> Drift:
    """A Drift of `reason` with every detail its words use, on a record whose system the reason implies."""
    on_hubspot = reason in ("target_wins", "deleted_in_hubspot", "sales_value_missing", "score_stale")
    details = {key: DETAIL_VALUES[key] for key in REASONS[reason]}
    if reason == "target_wins":
        details["rule"] = "target_wins"
    fields = dict(kind=KIND_OF[reason], system="hubspot" if on_hubspot else "salesforce",
                  object="contacts" if on_hubspot else "Lead", action=words.REASON_ACTIONS[reason], reason=reason,
                  lead_id=12, lead_name="佐藤 花子", record_id="00Q5g01", field="Company", expected="ACME Corp",
                  actual="Acme", changed_side="salesforce", changed_at="2026-12-01T01:02:00Z", changed_by="005xx",
                  details=details)
    return Drift(**{**fields, **overrides})


# -- every code has words in both languages: a new code without them fails here -----------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_title_and_help_in_both_languages(kind):
    for table in (words.KIND_TITLES, words.KIND_HELP):
        english, japanese = table[kind]
        assert english and JAPANESE.search(japanese)
    assert words.kind_title(kind, "ja") != words.kind_title(kind, "en")


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_has_a_label_and_general_words_in_both_languages(action):
    for table in (words.ACTION_LABELS, words.ACTION_REMEDIES):
        english, japanese = table[action]
        assert english and JAPANESE.search(japanese)


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_every_reason_has_a_label_a_finding_and_a_remedy_in_both_languages(reason):
    for table in (words.REASON_LABELS, words.FINDINGS, words.REMEDIES):
        english, japanese = table[reason]
        assert english and JAPANESE.search(japanese)
    assert words.REASON_ACTIONS[reason] in ACTIONS


def test_the_word_tables_name_no_code_the_model_does_not_know():
    assert set(words.KIND_TITLES) == set(words.KIND_HELP) == set(KINDS)
    assert set(words.ACTION_LABELS) == set(words.ACTION_REMEDIES) == set(ACTIONS)
    assert set(words.REASON_LABELS) == set(words.FINDINGS) == set(words.REMEDIES) == set(words.REASON_ACTIONS) \
        == set(REASONS)


@pytest.mark.parametrize("status", RUN_STATUSES)
def test_every_run_status_mode_and_trigger_has_words(status):
    assert words.status_label(status, "en")
    assert JAPANESE.search(words.status_label(status, "ja"))
    for mode in ("full", "incremental"):
        assert JAPANESE.search(words.mode_label(mode, "ja"))
    for trigger in ("cli", "schedule"):
        assert JAPANESE.search(words.trigger_label(trigger, "ja"))


# -- each item reads as sentences, its details filled in ---------------------------------------------------------
@pytest.mark.parametrize("reason", sorted(REASONS))
@pytest.mark.parametrize("lang", words.LANGUAGES)
def test_each_reason_reads_with_its_details_filled_in(reason, lang):
    item = sample(reason)
    text = words.sentence(item, lang)
    assert "{" not in text and "}" not in text and "—" not in text and "None" not in text
    for key in REASONS[reason]:
        value = DETAIL_VALUES[key] if key != "rule" else item.details["rule"]
        if key == "deleted_at":
            assert words.shown_time(value) in text  # Japan time: 2026-12-01 10:02 JST
        elif key == "records":
            assert "00QA1, 00QB2" in text
        else:
            assert str(value) in text, (key, text)
    if lang == "ja":
        assert JAPANESE.search(text) and "because" not in text
    else:
        assert not JAPANESE.search(text.replace("佐藤 花子", ""))
        assert not text[0].islower()  # a sentence starts with a capital (or a number)


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_each_item_says_what_doit_does_or_that_a_person_decides(reason):
    item = sample(reason)
    english, japanese = words.remedy(item, "en"), words.remedy(item, "ja")
    if item.action == "person":
        assert english.startswith("A person must decide, because")
        assert japanese.startswith("人の判断が必要です。") and "ため" in japanese
    else:
        assert english.startswith("--doit ")
        assert japanese.startswith("--doit を付けて実行すると")


def test_the_worked_example_in_both_languages():
    item = sample("source_wins", details={"route": "sf", "rule": "to_target"})
    assert words.sentence(item, "en") == (
        "Salesforce holds 'Acme' in Company, HubSpot says 'ACME Corp' (changed in Salesforce by 005xx at "
        "2026-12-01 10:02 JST). --doit writes HubSpot's value to Salesforce again, because the route sf sends "
        "HubSpot's value (direction to_target).")
    assert words.sentence(item, "ja") == (
        "Salesforce の Company は「Acme」、HubSpot では「ACME Corp」です "
        "(2026-12-01 10:02 JST に Salesforce で 005xx が変更)。"
        "--doit を付けて実行すると、HubSpot の値を Salesforce にもう一度書き込みます。"
        "ルート sf が HubSpot の値を送る設定だからです (direction to_target)。")


@pytest.mark.parametrize(("rule", "english", "japanese"), [
    ("source_wins", "the conflict rule of the route sf lets HubSpot's value win", "HubSpot の値が優先される"),
    ("newest_wins", "HubSpot's value is the newer one", "HubSpot の値のほうが新しく"),
    ("target_unless_blank", "Salesforce left the field blank", "Salesforce 側が空欄"),
])
def test_the_rule_that_lets_hubspot_win_is_named(rule, english, japanese):
    item = sample("source_wins", details={"route": "sf", "rule": rule})
    assert english in words.remedy(item, "en") and f"conflict {rule}" in words.remedy(item, "en")
    assert japanese in words.remedy(item, "ja")


def test_a_sales_value_that_wins_names_the_sales_system_it_comes_from():
    # plan.py reports it on the HubSpot contact: actual is HubSpot's value, expected what sales holds.
    item = sample("target_wins", record_id="501", field="phone", actual="03-0000-0000", expected="03-1111-2222",
                  changed_side="kintone", changed_by=None, changed_at=None,
                  details={"route": "kt", "rule": "target_wins"})
    assert words.sentence(item, "en") == (
        "HubSpot holds '03-0000-0000' in phone, kintone says '03-1111-2222' (changed in kintone). --doit writes "
        "kintone's value to HubSpot, because the conflict rule of the route kt lets kintone's value win (conflict "
        "target_wins).")
    unnamed = sample("target_wins", changed_side="hubspot", details={"route": "kt", "rule": "newest_wins"})
    assert "the sales system says 'ACME Corp'" in words.finding(unnamed, "en")
    assert "営業システムでは「ACME Corp」です" in words.finding(unnamed, "ja")
    named = sample("target_wins", changed_side="hubspot",
                   details={"route": "kt", "rule": "newest_wins", "target_system": "salesforce"})
    assert "Salesforce's value is the newer one" in words.remedy(named, "en")


def test_kintone_apps_and_records_are_named_as_people_call_them():
    item = sample("deleted_in_target", system="kintone", object="7", record_id="12")
    assert words.finding(item, "en").startswith("The kintone app 7 record 12 was deleted (at 2026-12-01 10:02 JST)")
    assert words.finding(item, "ja").startswith("kintone のアプリ 7 のレコード 12 は削除されています")


def test_feedback_values_name_feedback_yaml_rather_than_a_route():
    item = sample("sales_value_missing", changed_side="bridge", details={"route": "feedback"})
    assert "(feedback.yaml sends it back to HubSpot)" in words.remedy(item, "en")
    assert words.finding(item, "en").startswith("The sales system holds")


def test_values_are_quoted_blank_when_empty_cut_when_long_and_kept_on_one_line():
    assert (words.shown_value("Acme", "en"), words.shown_value("Acme", "ja")) == ("'Acme'", "「Acme」")
    assert (words.shown_value(None, "en"), words.shown_value("  ", "ja")) == ("(blank)", "空欄")
    assert words.shown_value(115, "en") == "'115'"
    long = words.shown_value("x" * 500, "en")
    assert len(long) == words.SHOWN_VALUE + 2 and long.endswith("…'")
    assert words.shown_value("株式会社\nサンプル\u3000本社", "ja") == "「株式会社 サンプル 本社」"


@pytest.mark.parametrize(("side", "by", "at", "english", "japanese"), [
    ("salesforce", None, None, " (changed in Salesforce)", " (Salesforce で変更)"),
    ("kintone", "山田", None, " (changed in kintone by 山田)", " (kintone で 山田 が変更)"),
    (None, None, "2026-12-01T01:02:00Z", " (changed at 2026-12-01 10:02 JST)", " (2026-12-01 10:02 JST に変更)"),
    ("bridge", None, None, " (changed in Bridge)", " (Bridge で変更)"),
])
def test_who_changed_what_when_says_as_much_as_the_system_told(side, by, at, english, japanese):
    item = sample("source_wins", changed_side=side, changed_by=by, changed_at=at)
    assert f"'ACME Corp'{english}." in words.finding(item, "en")
    assert f"「ACME Corp」です{japanese}。" in words.finding(item, "ja")
    nothing = sample("source_wins", changed_side=None, changed_by=None, changed_at=None)
    assert words.finding(nothing, "en").endswith("HubSpot says 'ACME Corp'.")


def test_an_action_another_than_the_reasons_gets_the_actions_own_words():
    item = sample("source_wins", action="person")
    assert words.remedy(item, "en") == "A person must decide; --doit leaves it as it is."
    assert words.remedy(item, "ja") == "人の判断が必要です。--doit を付けても変更しません。"


def test_unknown_codes_and_missing_details_never_break_a_report():
    unknown = {"kind": "ghost", "system": "salesforce", "object": "Lead", "action": "teleport", "reason": "new_code"}
    assert words.finding(unknown, "en") == "ghost: new_code"
    assert words.remedy(unknown, "ja") == "teleport"
    assert words.kind_title("ghost", "ja") == "ghost"
    bare = sample("not_in_target", details={})
    assert "—" in words.sentence(bare, "en")  # shown as a gap, not a KeyError


def test_a_repaired_item_says_when_it_was_repaired():
    item = {**sample("score_stale").to_dict(), "repaired_at": "2026-12-01T17:05:00.000Z"}
    assert words.remedy(item, "en").endswith("Repaired 2026-12-02 02:05 JST.")
    assert words.remedy(item, "ja").endswith("2026-12-02 02:05 JST に修復しました。")


def test_items_from_the_store_read_the_same_as_drift_objects():
    item = sample("same_key", record_id="12, 13", details={"route": "kt", "key_field": "hubspot_id", "key": "501",
                                                         "records": ["12", "13"]})
    stored = {**item.to_dict(), "id": 3, "run_id": 1, "repaired_at": None}
    assert words.sentence(stored, "ja") == words.sentence(item, "ja")
    english = words.sentence(item, "en")
    assert "2 Salesforce Lead records hold HubSpot id 501 in hubspot_id: 12, 13 (route kt)." in english
