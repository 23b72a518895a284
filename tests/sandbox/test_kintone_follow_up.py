"""The kintone lead app's follow-up log in the sandbox: the 対応履歴 table (SUBTABLE) on the form, its rows as the REST
API reads and writes them (row ids; a written table replaces the record's), a rep's log action (one row added,
UPDATE_RECORD sent), and what Bridge's connector and feedback rules make of the rows."""

from __future__ import annotations

import json

from bridge.feedback.events import sales_events
from bridge.feedback.load import load_feedback
from connectors.registry import load_connectors
from connectors.sandbox.kintone_schema import FOLLOW_UP_METHODS, FOLLOW_UP_RESULTS
from tests.conftest import SHIPPED_MAPPINGS

LOG = "対応履歴"


def add(control, **fields) -> str:
    body = {"webhooks": False, "records": [{"company": "A", **fields}]}
    return control.post("/kintone/apps/1/records", json=body).json()["ids"][0]


def log(control, record_id: str, **row) -> dict:
    reply = control.post(f"/kintone/apps/1/records/{record_id}/log", json=row)
    assert reply.status_code == 200, reply.text
    return reply.json()


def cells(record: dict) -> list[tuple[str, dict]]:
    """(row id, {column: value}) per row of the record's log, as the REST API gives them."""
    return [(row["id"], {code: cell["value"] for code, cell in row["value"].items()})
            for row in record[LOG]["value"]]


def test_the_form_has_the_follow_up_table_and_its_columns(kintone):
    table = kintone.get("/app/form/fields.json", params={"app": 1}).json()["properties"][LOG]
    assert table["type"] == "SUBTABLE"
    columns = table["fields"]
    assert {code: column["type"] for code, column in columns.items()} == {
        "対応日時": "DATETIME", "対応方法": "DROP_DOWN", "結果": "DROP_DOWN", "メモ": "MULTI_LINE_TEXT"}
    assert list(columns["対応方法"]["options"]) == list(FOLLOW_UP_METHODS) == ["電話", "メール", "訪問", "その他"]
    assert list(columns["結果"]["options"]) == list(FOLLOW_UP_RESULTS)


def test_a_rep_logs_follow_ups_one_row_each_dated_now_and_each_sends_update_record(wired, receiver, control, clock):
    record_id = add(control)
    clock.advance(minutes=5, seconds=20)
    first = log(control, record_id, method="電話", result="不在", memo="午後にかけ直す")
    assert first["$revision"]["value"] == "2"
    ((row_id, row),) = cells(first)
    assert row == {"対応日時": "2026-01-05T00:05:00Z", "対応方法": "電話", "結果": "不在", "メモ": "午後にかけ直す"}
    clock.advance(hours=3)
    second = log(control, record_id, method="電話", result="つながった")
    assert [r for r, _ in cells(second)][0] == row_id  # the rows there are kept, with their ids
    assert cells(second)[1][1]["結果"] == "つながった" and cells(second)[1][0] != row_id
    notes = [json.loads(r.body) for r in receiver.wait(2)]
    assert [n["type"] for n in notes] == ["UPDATE_RECORD", "UPDATE_RECORD"]
    assert notes[1]["record"][LOG] == second[LOG]


def test_a_follow_up_with_an_unknown_method_or_result_is_refused_and_nothing_is_saved(control):
    record_id = add(control)
    refused = control.post(f"/kintone/apps/1/records/{record_id}/log", json={"method": "電話", "result": "話し中?"})
    assert refused.status_code == 400 and refused.json()["code"] == "CB_VA01"
    assert list(refused.json()["errors"]) == ["record.対応履歴.value[0].value.結果.value"]
    assert control.post(f"/kintone/apps/1/records/{record_id}/log", json={}).status_code == 400
    assert control.get(f"/kintone/apps/1/records/{record_id}").json()[LOG]["value"] == []
    assert control.post("/kintone/apps/1/records/99/log", json={"method": "電話"}).status_code == 404


def test_a_written_table_replaces_the_records_rows_known_ids_update_others_are_new(kintone, control):
    record_id = add(control)
    log(control, record_id, method="電話", result="不在", memo="1回目")
    (kept, _), = cells(log(control, record_id, method="メール", result="送信済み"))[1:]
    dropped = cells(kintone.get("/record.json", params={"app": 1, "id": record_id}).json()["record"])[0][0]
    written = {LOG: {"value": [
        {"id": kept, "value": {"結果": {"value": "返信あり"}}},  # the result changed; other columns kept
        {"value": {"対応方法": {"value": "訪問"}, "対応日時": {"value": "2026-01-06T01:30:45Z"}}},
    ]}}
    reply = kintone.put("/record.json", json={"app": 1, "id": record_id, "record": written})
    assert reply.status_code == 200, reply.text
    record = kintone.get("/record.json", params={"app": 1, "id": record_id}).json()["record"]
    rows = cells(record)
    assert [r for r, _ in rows][0] == kept and dropped not in [r for r, _ in rows]
    assert rows[0][1] == {"対応日時": rows[0][1]["対応日時"], "対応方法": "メール", "結果": "返信あり", "メモ": ""}
    assert rows[1][1] == {"対応日時": "2026-01-06T01:30:00Z", "対応方法": "訪問", "結果": "", "メモ": ""}
    assert rows[1][0] not in (kept, dropped)
    # A write without the table keeps it.
    kintone.put("/record.json", json={"app": 1, "id": record_id, "record": {"company": {"value": "B"}}})
    assert cells(kintone.get("/record.json", params={"app": 1, "id": record_id}).json()["record"]) == rows


def test_records_added_with_rows_get_row_ids_and_a_bad_column_names_its_path(kintone):
    added = kintone.post("/records.json", json={"app": 1, "records": [
        {"company": {"value": "A"}, LOG: {"value": [{"value": {"対応方法": {"value": "電話"}}},
                                                     {"value": {"対応方法": {"value": "メール"}}}]}}]})
    assert added.status_code == 200, added.text
    record = kintone.get("/record.json", params={"app": 1, "id": added.json()["ids"][0]}).json()["record"]
    ids = [row_id for row_id, _ in cells(record)]
    assert len(set(ids)) == 2 and all(i.isdigit() for i in ids)
    bad = kintone.post("/records.json", json={"app": 1, "records": [
        {"company": {"value": "A"}, LOG: {"value": [{"value": {"対応方法": {"value": "FAX"}}}]}}]})
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["records[0].対応履歴.value[0].value.対応方法.value"]


def test_bridges_connector_reads_the_rows_and_the_feedback_rules_tell_each_new_one(sandbox, control):
    record_id = add(control)
    connectors, problems = load_connectors(sandbox.env())
    assert problems == []
    rules = load_feedback(SHIPPED_MAPPINGS)
    fields = rules.fields("kintone", "1")
    assert LOG in fields
    before = connectors["kintone"].read("1", [record_id], fields)[record_id]
    assert before[LOG] == []
    log(control, record_id, method="電話", result="不在")
    log(control, record_id, method="電話", result="つながった")
    after = connectors["kintone"].read("1", [record_id], fields)[record_id]
    events = sales_events(rules, "kintone", "1", record_id, before, after, sandbox.clock())
    assert [(e.kind, e.details["result"]) for e in events] == [("attempted", "不在"), ("connected", "つながった")]
    assert sales_events(rules, "kintone", "1", record_id, after, after, sandbox.clock()) == []
