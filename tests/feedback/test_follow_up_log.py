"""kintone's follow-up log (the 対応履歴 table) as sales events: each new row one touch, known by its row id; and the
Salesforce Task status filter (a planned call is no touch until it is completed). Pure: no store, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.feedback.events import sales_events
from bridge.feedback.followups import rows_of
from bridge.feedback.load import check_feedback_text
from tests.feedback.test_events import AT, RULES

LOG = "対応履歴"


def row(row_id: int, method: str, result: str = "", at: str | None = "2026-11-24T01:30:00Z", memo: str = "") -> dict:
    """A table row as kintone's REST API and webhooks give it (and the connector keeps it)."""
    cells = {"対応方法": ("DROP_DOWN", method), "結果": ("DROP_DOWN", result), "メモ": ("MULTI_LINE_TEXT", memo),
             "対応日時": ("DATETIME", at or "")}
    return {"id": str(row_id), "value": {code: {"type": kind, "value": value} for code, (kind, value) in cells.items()}}


def record(*rows: dict, status: str = "対応中") -> dict:
    return {"ステータス": status, "更新日時": "2026-11-24T02:00:00Z", LOG: list(rows)}


def told(before, after, since=None) -> list[tuple[str, str | None, datetime]]:
    """The events of the log's rows (a status first seen is an event of its own)."""
    events = sales_events(RULES, "kintone", "7", "42", before, after, AT, since=since)
    return [(e.kind, e.details.get("result"), e.occurred_at) for e in events if "row" in e.details]


def test_the_rules_read_the_table_field_so_the_feedback_stage_reads_it():
    assert LOG in RULES.fields("kintone", "7")
    log = RULES.for_object("kintone", "7").log
    assert (log.field, log.type_field, log.result_field, log.time_field) == (LOG, "対応方法", "結果", "対応日時")


@pytest.mark.parametrize("method, result, expected", [
    ("電話", "つながった", "connected"), ("電話", "返信あり", "connected"), ("電話", "不在", "attempted"),
    ("電話", "留守電", "attempted"), ("電話", "番号不通", "attempted"), ("電話", "", "attempted"),
    ("メール", "送信済み", "contacted"), ("メール", "返信あり", "contacted"),  # an email is contacted, as a Task
    ("訪問", "つながった", None), ("その他", "", None),
])
def test_a_new_row_is_a_touch_by_its_method_and_result(method, result, expected):
    found = told(record(), record(row(1, method, result)))
    assert found == ([(expected, result or None, datetime(2026, 11, 24, 1, 30, tzinfo=UTC))] if expected else [])


def test_only_rows_not_seen_before_are_new_known_by_their_id_whatever_their_order():
    first = row(101, "電話", "不在", "2026-11-24T01:00:00Z")
    second = row(102, "電話", "留守電", "2026-11-24T04:00:00Z")
    third = row(103, "電話", "不在", "2026-11-25T00:30:00Z")
    # Many apps add new rows at the top: a row is known by its id, not its place.
    assert [k for k, *_ in told(record(first), record(second, first))] == ["attempted"]
    found = told(record(first), record(third, second, first))
    assert [(k, r, t.isoformat()) for k, r, t in found] == [
        ("attempted", "留守電", "2026-11-24T04:00:00+00:00"), ("attempted", "不在", "2026-11-25T00:30:00+00:00")]
    assert told(record(first, second), record(first, second)) == []


def test_three_unanswered_calls_logged_one_by_one_are_three_attempts_though_the_status_stays():
    calls = [row(i, "電話", "不在", f"2026-11-2{4 + i}T01:00:00Z") for i in range(3)]
    seen, attempts = record(status="不通"), []
    for n in range(1, 4):
        now = record(*calls[:n], status="不通")
        attempts += [k for k, *_ in told(seen, now)]
        seen = now
    assert attempts == ["attempted"] * 3


def test_a_row_edited_later_is_not_a_new_touch_even_when_its_result_changes():
    logged = row(7, "電話", "不在")
    assert told(record(logged), record(row(7, "電話", "つながった", memo="折り返しあり"))) == []


def test_a_row_deleted_tells_nothing_and_a_row_without_a_time_happens_when_the_record_changed():
    assert told(record(row(1, "電話", "不在")), record()) == []
    assert told(record(), record(row(2, "電話", "不在", at=None))) == [("attempted", "不在", AT)]


def test_a_new_status_and_a_new_row_in_one_save_are_both_told():
    before = record(status="対応中")
    events = sales_events(RULES, "kintone", "7", "42", before, record(row(1, "電話", "不在"), status="不通"), AT)
    # Both told: the SLA counts attempts at least a spacing apart (sla.yaml), so this is one attempt to it.
    assert [(e.kind, e.details) for e in events] == [
        ("attempted", {"status": "不通"}), ("attempted", {"type": "電話", "row": "1", "result": "不在"})]


HANDOFF = datetime(2026, 11, 24, 1, 30, 40, tzinfo=UTC)


def test_on_the_first_read_rows_dated_before_the_handoff_are_history_not_new_touches():
    old = row(1, "電話", "不在", "2026-11-20T05:00:00Z")  # on a record Bridge matched rather than created
    same_minute = row(2, "電話", "つながった", "2026-11-24T01:30:00Z")  # kintone keeps times to the minute
    later = row(3, "メール", "送信済み", "2026-11-24T03:00:00Z")
    undated = row(4, "電話", "不在", at=None)
    found = [(k, r) for k, r, _ in told({}, record(old, same_minute, later, undated), since=HANDOFF)]
    assert found == [("connected", "つながった"), ("contacted", "送信済み"), ("attempted", "不在")]
    # A record stored before the log was read (its fields have no table): the same rule.
    assert [k for k, *_ in told({"ステータス": "対応中"}, record(old, later), since=HANDOFF)] == ["contacted"]
    # Without the link time (or with None for the record as last applied) every row counts.
    assert len(told(None, record(old, later))) == 2
    # Once the log has been seen, a new row counts whatever its date (a call logged late, backdated).
    assert [k for k, *_ in told(record(later), record(later, old), since=HANDOFF)] == ["attempted"]


def test_rows_as_the_rest_api_gives_them_and_rows_without_an_id_left_out():
    rows = rows_of([row(5, "電話", "不在"), {"value": {"対応方法": {"value": "電話"}}}, {"id": "6", "value": {
        "対応方法": "メール"}}, "junk"])
    assert list(rows) == ["5", "6"]
    assert rows["5"]["結果"] == "不在" and rows["6"] == {"対応方法": "メール"}
    assert rows_of(None) == {} and rows_of("") == {}


def test_a_record_read_without_the_table_tells_no_log_events():
    assert told(record(row(1, "電話", "不在")), {"ステータス": "対応中"}) == []


# -- Salesforce Task: only a completed task is a touch ------------------------------------------

def task(status: str | None, **more) -> dict:
    found = {"WhoId": "00Q1", "TaskSubtype": "Call", "CallDisposition": "No Answer", **more}
    return found if status is None else {**found, "Status": status}


def task_kinds(before, after, rules=RULES) -> list[str]:
    return [e.kind for e in sales_events(rules, "salesforce", "Task", "00T1", before, after, AT)]


def test_a_planned_call_is_no_touch_until_it_is_completed_and_is_told_then():
    assert task_kinds(None, task("Not Started")) == []
    assert task_kinds(task("Not Started"), task("In Progress")) == []
    assert task_kinds(task("In Progress"), task("Completed")) == ["attempted"]
    assert task_kinds(task("Completed"), task("Completed", Description="left a message")) == []
    assert task_kinds(None, task("Completed", CallDisposition="Connected")) == ["connected"]
    assert task_kinds(None, task("完了", TaskSubtype="Email")) == ["contacted"]
    assert task_kinds(None, task(None)) == ["attempted"]  # a record that does not carry the status: as before


def test_without_status_field_and_done_every_task_counts_as_before():
    text = """objects:
  - {system: salesforce, object: Task, kind: activity, lead_field: WhoId, type_field: TaskSubtype, calls: [Call]}
reasons:
  - {code: other, ja: その他, en: Other}
"""
    rules, problems = check_feedback_text(text, "feedback.yaml")
    assert problems == []
    assert task_kinds(None, task("Not Started"), rules) == ["attempted"]


def test_mistakes_in_the_log_and_the_task_status_are_named_at_their_lines():
    text = """objects:
  - system: kintone
    object: "*"
    kind: status
    status_field: ステータス
    statuses: {不通: attempted}
    done: [Completed]
    log:
      field: 対応履歴
      type_field: 対応方法
      connected: [つながった]
  - system: salesforce
    object: Task
    kind: activity
    lead_field: WhoId
    type_field: TaskSubtype
    done: [Completed]
    log:
      field: x
      type_field: y
      calls: [Call]
      colour: red
  - system: kintone
    object: "9"
    kind: status
    status_field: s
    statuses: {a: won}
    log:
      type_field: y
      emails: [メール]
reasons:
  - {code: other, ja: その他, en: Other}
"""
    rules, problems = check_feedback_text(text, "feedback.yaml")
    assert rules is None
    shown = {str(p).split(": ", 2)[1]: str(p) for p in problems}
    assert shown["objects[0].done"].startswith("feedback.yaml:7: ") and "for kind activity" in shown["objects[0].done"]
    assert shown["objects[0].log.calls"].startswith("feedback.yaml:8: ") and "calls or emails" in \
        shown["objects[0].log.calls"]
    assert shown["objects[1].status_field"].startswith("feedback.yaml:12: ") and "go together" in \
        shown["objects[1].status_field"]
    assert shown["objects[1].log.colour"].startswith("feedback.yaml:22: ")
    assert shown["objects[2].log.field"].startswith("feedback.yaml:28: ")


def test_connected_results_without_a_result_column_and_a_log_on_an_activity_are_refused():
    text = """objects:
  - system: kintone
    object: "*"
    kind: status
    status_field: s
    statuses: {a: won}
    log: {field: t, type_field: m, calls: [電話], connected: [つながった]}
  - system: salesforce
    object: Task
    kind: activity
    lead_field: WhoId
    type_field: TaskSubtype
    status_field: Status
    log: {field: t, type_field: m, calls: [電話]}
reasons:
  - {code: other, ja: その他, en: Other}
"""
    rules, problems = check_feedback_text(text, "feedback.yaml")
    assert rules is None
    shown = {str(p).split(": ", 2)[1]: str(p) for p in problems}
    assert "need result_field" in shown["objects[0].log.result_field"]
    assert shown["objects[0].log.result_field"].startswith("feedback.yaml:7: ")
    assert "kind status" in shown["objects[1].log"] and shown["objects[1].log"].startswith("feedback.yaml:14: ")
    assert "go together" in shown["objects[1].done"]


def test_the_time_of_a_row_is_kept_to_the_minute_kintone_gives():
    (event,) = sales_events(RULES, "kintone", "7", "42", record(), record(row(9, "電話", "不在",
                            "2026-11-24T10:05:00Z")), AT)
    assert event.occurred_at - AT == timedelta(minutes=5) and event.details["row"] == "9"
