"""sla.yaml `task:` on a reminder or the escalation: what loads, the shipped choice, and mistakes at file:line."""

from __future__ import annotations

from bridge.sla.load import check_sla_text, load_sla
from bridge.sla.rules import TASK_SYSTEMS
from tests.conftest import SHIPPED_MAPPINGS

HEAD = "owner_fields: {salesforce: OwnerId}\npolicies:\n  - name: p\n    first_touch: 2 days\n"


def problems(text: str) -> list[tuple[int | None, str, str]]:
    rules, found = check_sla_text(text, "sla.yaml")
    assert (rules is None) == bool(found)
    return [(p.line, p.where, p.message) for p in found]


def test_the_shipped_file_leaves_a_task_on_a_breach_only():
    for policy in load_sla(SHIPPED_MAPPINGS).policies:
        assert policy.escalation.task == TASK_SYSTEMS == ("salesforce", "kintone")
        assert [r.task for r in policy.reminders] == [()]
        assert policy.task_for("breach") == TASK_SYSTEMS and policy.task_for("reminder:0") == ()


def test_true_false_and_a_list_of_systems():
    rules, found = check_sla_text(HEAD + "    reminders:\n      - {before: 1 days, task: [salesforce]}\n"
                                  "      - {before: 2 hours, task: false}\n    escalation: {task: true}\n", "sla.yaml")
    assert found == []
    (policy,) = rules.policies
    assert [r.task for r in policy.reminders] == [("salesforce",), ()]
    assert policy.task_for("reminder:0") == ("salesforce",) and policy.task_for("reminder:1") == ()
    assert policy.task_for("breach") == TASK_SYSTEMS and policy.task_for("recycle") == ()


def test_left_out_means_no_task():
    rules, found = check_sla_text(HEAD, "sla.yaml")
    assert found == [] and rules.policies[0].escalation.task == ()


def test_an_unknown_system_or_a_wrong_kind_of_value_is_named_at_its_line():
    found = problems(HEAD + "    reminders:\n      - {before: 1 days, task: [hubspot]}\n    escalation:\n"
                     "      task: yes please\n")
    assert [(line, where) for line, where, _ in found] == [(6, "policies[0].reminders[0].task"),
                                                            (8, "policies[0].escalation.task")]
    assert "'hubspot'" in found[0][2] and "salesforce (ToDo)" in found[0][2] and "kintone (a comment)" in found[0][2]
    assert "true" in found[1][2] and "[salesforce, kintone]" in found[1][2]


def test_an_empty_list_is_refused_rather_than_read_as_none():
    [(line, where, _)] = problems(HEAD + "    escalation: {task: []}\n")
    assert (line, where) == (5, "policies[0].escalation.task")


def test_a_task_for_a_system_whose_owner_field_is_unknown_is_refused():
    [(line, where, message)] = problems(HEAD + "    escalation:\n      task: [kintone]\n")
    assert (line, where) == (6, "policies[0].escalation.task")
    assert "owner_fields" in message and "kintone" in message
