"""Sales events told from records as they were and are: Salesforce Lead, Task and Opportunity, kintone status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.feedback.events import UNKNOWN_REASON, lead_record_id, resolve_reason, sales_events
from bridge.feedback.load import load_feedback
from tests.conftest import SHIPPED_MAPPINGS

RULES = load_feedback(SHIPPED_MAPPINGS)
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def kinds(system, object, before, after):
    return [(e.kind, e.reason) for e in sales_events(RULES, system, object, "r1", before, after, AT)]


@pytest.mark.parametrize("status, expected", [
    ("Working - Contacted", [("contacted", None)]),
    ("Qualified", [("qualified", None)]),
    ("Recycled", [("recycled", None)]),
    ("Open - Not Contacted", []),  # not an event: the Lead is waiting
])
def test_a_salesforce_lead_status_is_an_event(status, expected):
    assert kinds("salesforce", "Lead", {"Status": "Open - Not Contacted"}, {"Status": status}) == \
        ([] if status == "Open - Not Contacted" else expected)


def test_the_same_status_again_is_no_event():
    same = {"Status": "Working - Contacted"}
    assert kinds("salesforce", "Lead", same, dict(same)) == []


def test_disqualified_carries_the_reason_of_the_vocabulary_and_keeps_the_value():
    (event,) = sales_events(RULES, "salesforce", "Lead", "00Q1", {"Status": "Working - Contacted"},
                            {"Status": "Closed - Not Converted", "Disqualification_Reason__c": "予算なし"}, AT)
    assert (event.kind, event.reason, event.reason_value, event.reason_known) == \
        ("disqualified", "no_budget", "予算なし", True)


def test_an_unknown_reason_is_kept_verbatim_and_flagged_never_dropped():
    (event,) = sales_events(RULES, "salesforce", "Lead", "00Q1", {},
                            {"Status": "Closed - Not Converted", "Disqualification_Reason__c": "社内事情"}, AT)
    assert (event.reason, event.reason_value, event.reason_known) == (UNKNOWN_REASON, "社内事情", False)


@pytest.mark.parametrize("value, code", [("No Budget", "no_budget"), ("ｎｏ ｂｕｄｇｅｔ", "no_budget"),
                                         ("他社決定", "competitor"), ("No Response", "unreachable"),
                                         ("決裁権なし", "no_authority"), ("", None)])
def test_reasons_match_across_systems_case_and_width_blind(value, code):
    assert resolve_reason(RULES, value)[0] == code


def test_a_conversion_is_one_event_naming_the_contact_and_opportunity():
    before = {"Status": "Qualified", "IsConverted": "false"}
    after = {"Status": "Closed - Converted", "IsConverted": "true", "ConvertedContactId": "003A",
             "ConvertedOpportunityId": "006B"}
    (event,) = sales_events(RULES, "salesforce", "Lead", "00Q1", before, after, AT)
    assert event.kind == "converted" and set(event.links) == {("Contact", "003A"), ("Opportunity", "006B")}


@pytest.mark.parametrize("task, expected", [
    ({"TaskSubtype": "Call", "CallDisposition": "Connected"}, "connected"),
    ({"TaskSubtype": "Call", "CallDisposition": "通話"}, "connected"),
    ({"TaskSubtype": "Call", "CallDisposition": "No Answer"}, "attempted"),
    ({"TaskSubtype": "Call"}, "attempted"),
    ({"TaskSubtype": "Email"}, "contacted"),
    ({"TaskSubtype": "Task"}, None),
])
def test_a_logged_task_is_a_touch_by_its_type_and_result(task, expected):
    found = kinds("salesforce", "Task", None, {"WhoId": "00Q1", **task})
    assert found == ([(expected, None)] if expected else [])


def test_a_task_is_about_the_lead_it_names():
    assert lead_record_id(RULES, "salesforce", "Task", {"WhoId": "00Q5g0000012345"}) == "00Q5g0000012345"
    assert lead_record_id(RULES, "salesforce", "Lead", {"WhoId": "x"}) is None


def test_a_call_updated_with_its_result_is_told_once_more_only_when_the_meaning_changes():
    logged = {"WhoId": "00Q1", "TaskSubtype": "Call"}
    assert kinds("salesforce", "Task", logged, {**logged, "CallDisposition": "Connected"}) == [("connected", None)]
    assert kinds("salesforce", "Task", logged, {**logged, "Description": "left a message"}) == []


def test_an_opportunity_won_then_one_lost_with_a_reason():
    open_deal = {"IsClosed": False, "IsWon": False, "Amount": 1_200_000}
    (won,) = sales_events(RULES, "salesforce", "Opportunity", "006B", open_deal,
                          {**open_deal, "IsClosed": True, "IsWon": True, "CloseDate": "2026-12-20"}, AT)
    assert won.kind == "won" and won.details == {"amount": 1_200_000, "close_date": "2026-12-20"}
    (lost,) = sales_events(RULES, "salesforce", "Opportunity", "006C", open_deal,
                           {**open_deal, "IsClosed": True, "Loss_Reason__c": "Lost to Competitor"}, AT)
    assert (lost.kind, lost.reason) == ("lost", "competitor")
    assert kinds("salesforce", "Opportunity", {"IsClosed": True, "IsWon": True}, {"IsClosed": True,
                                                                                  "IsWon": True}) == []


@pytest.mark.parametrize("status, expected", [("対応中", "contacted"), ("不通", "attempted"), ("商談化", "qualified"),
                                              ("受注", "won"), ("失注", "lost"), ("マーケに戻す", "recycled")])
def test_a_kintone_status_in_any_app_is_an_event(status, expected):
    found = kinds("kintone", "7", {"ステータス": "未対応"}, {"ステータス": status, "失注理由": "予算なし"})
    assert found[0][0] == expected


def test_objects_the_rules_do_not_describe_give_no_event():
    assert kinds("salesforce", "Account", None, {"Status": "Working - Contacted"}) == []
