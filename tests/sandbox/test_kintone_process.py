"""The kintone lead app's process management in the sandbox: the ステータス a record starts in and moves through by a
rep's status action (revision up by 2, 更新日時 moved), the 失注理由 drop-down, and what the REST API reads of both."""

from __future__ import annotations

import json

from connectors.registry import load_connectors
from connectors.sandbox.kintone_schema import LEAD_APP_STATES, LOSS_REASONS


def add(control, **fields) -> str:
    return control.post("/kintone/apps/1/records", json={"records": [{"company": "A", **fields}]}).json()["ids"][0]


def test_the_form_has_the_process_fields_and_the_reason_drop_down(kintone):
    fields = kintone.get("/app/form/fields.json", params={"app": 1}).json()["properties"]
    assert fields["ステータス"] == {"type": "STATUS", "code": "ステータス", "label": "ステータス", "enabled": True}
    assert fields["作業者"]["type"] == "STATUS_ASSIGNEE"
    assert fields["失注理由"]["type"] == "DROP_DOWN"
    assert list(fields["失注理由"]["options"]) == list(LOSS_REASONS)


def test_a_record_starts_in_the_first_status_and_the_api_cannot_write_it(kintone, control):
    record_id = add(control)
    kintone.put("/record.json", json={"app": 1, "id": record_id, "record": {"ステータス": {"value": "受注"}}})
    record = kintone.get("/record.json", params={"app": 1, "id": record_id}).json()["record"]
    assert record["ステータス"] == {"type": "STATUS", "value": LEAD_APP_STATES[0]}
    assert record["作業者"] == {"type": "STATUS_ASSIGNEE", "value": []}
    assert record["失注理由"] == {"type": "DROP_DOWN", "value": ""}


def test_a_status_action_moves_the_record_bumps_the_revision_by_two_and_the_update_time(control, clock):
    record_id = add(control)
    clock.advance(minutes=3)
    moved = control.post(f"/kintone/apps/1/records/{record_id}/status", json={"status": "商談化"}).json()
    assert moved["ステータス"]["value"] == "商談化"
    assert moved["$revision"]["value"] == "3"
    assert moved["updated_time"]["value"] == "2026-01-05T00:03:00Z"
    clock.advance(minutes=1)
    lost = control.post(f"/kintone/apps/1/records/{record_id}/status",
                        json={"status": "失注", "fields": {"失注理由": "予算なし"}}).json()
    assert (lost["ステータス"]["value"], lost["失注理由"]["value"]) == ("失注", "予算なし")
    assert lost["$revision"]["value"] == "6"  # the edit, then the action


def test_unknown_statuses_reasons_and_records_are_refused(control):
    record_id = add(control)
    unknown = control.post(f"/kintone/apps/1/records/{record_id}/status", json={"status": "保留",
                                                                                "fields": {"失注理由": "重複"}})
    assert unknown.status_code == 400 and "商談化" in unknown.json()["error"]
    assert control.get(f"/kintone/apps/1/records/{record_id}").json()["失注理由"]["value"] == ""  # nothing saved
    assert control.post(f"/kintone/apps/1/records/{record_id}/status", json={}).status_code == 400
    reason = control.post(f"/kintone/apps/1/records/{record_id}/status", json={"status": "失注",
                                                                              "fields": {"失注理由": "気分"}})
    assert reason.json()["code"] == "CB_VA01"
    assert control.get(f"/kintone/apps/1/records/{record_id}").json()["ステータス"]["value"] == "未対応"
    assert control.post("/kintone/apps/1/records/99/status", json={"status": "失注"}).status_code == 404


def test_bridges_connector_reads_the_status_and_the_reason_by_name(sandbox, control):
    record_id = add(control)
    control.post(f"/kintone/apps/1/records/{record_id}/status", json={"status": "対象外",
                                                                      "fields": {"失注理由": "重複"}})
    connectors, problems = load_connectors(sandbox.env())
    assert problems == []
    read = connectors["kintone"].read("1", [record_id], ["ステータス", "失注理由"])
    assert read[record_id] == {"ステータス": "対象外", "失注理由": "重複", "$id": record_id, "$revision": "4"}


def test_the_process_settings_list_every_status_and_the_actions_between_them(kintone):
    process = kintone.get("/app/status.json", params={"app": 1}).json()
    assert process["enable"] is True and list(process["states"]) == list(LEAD_APP_STATES)
    moves = {(a["from"], a["to"]) for a in process["actions"]}
    assert ("対応中", "マーケに戻す") in moves and ("不通", "マーケに戻す") in moves
    assert ("受注", "マーケに戻す") not in moves and ("受注", "未対応") in moves  # a closed lead is only reopened


def test_bridges_connector_moves_records_by_their_actions_and_each_sends_update_status(wired, receiver, control):
    first, second, won = add(control, hubspot_contact_id="801"), add(control, hubspot_contact_id="802"), add(
        control, hubspot_contact_id="803")
    control.post(f"/kintone/apps/1/records/{first}/status", json={"status": "対応中"})
    control.post(f"/kintone/apps/1/records/{won}/status", json={"status": "受注"})
    before = len(receiver.wait(5))  # three ADD_RECORD, two UPDATE_STATUS
    connectors, problems = load_connectors(wired.env())
    assert problems == []
    results = connectors["kintone"].move_statuses(
        "1", "hubspot_contact_id", [("801", "マーケに戻す"), ("802", "マーケに戻す"), ("803", "マーケに戻す")])
    assert [r.outcome for r in results] == ["updated", "updated", "failed"]
    assert "「受注」" in results[2].message
    records = connectors["kintone"].read("1", [first, second, won], ["ステータス"])
    assert [records[i]["ステータス"] for i in (first, second, won)] == ["マーケに戻す", "マーケに戻す", "受注"]
    assert sandbox_calls(wired, "kintone.statuses_update") == 1  # both moves in one call
    notes = [json.loads(r.body) for r in receiver.wait(before + 2)[before:]]
    assert sorted((n["type"], n["record"]["ステータス"]["value"]) for n in notes) == [
        ("UPDATE_STATUS", "マーケに戻す"), ("UPDATE_STATUS", "マーケに戻す")]


def sandbox_calls(sandbox, endpoint: str) -> int:
    return sandbox.calls.count(endpoint, 200)
