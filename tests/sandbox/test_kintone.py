"""The kintone simulator over loopback: API tokens, write limits, upsert, validation, queries, cursors."""

from __future__ import annotations

import threading

import pytest
import requests

from connectors.sandbox.config import KintoneApp
from connectors.sandbox.kintone_query import parse


def upsert(key: str, **values: object) -> dict:
    return {
        "updateKey": {"field": "hubspot_contact_id", "value": key},
        "record": {code: {"value": value} for code, value in values.items()},
    }


def add(**values: object) -> dict:
    return {code: {"value": value} for code, value in values.items()}


@pytest.fixture
def config(config):
    config.kintone.apps["2"] = KintoneApp(name="商談管理")
    return config


def test_api_token_errors_use_kintones_body(sandbox):
    url = f"{sandbox.kintone_url}/k/v1/records.json"
    missing = requests.get(url, params={"app": 1}, timeout=5)
    assert missing.status_code == 401
    assert missing.json()["code"] == "CB_AU01"
    assert set(missing.json()) == {"code", "id", "message"}
    unknown = requests.get(url, params={"app": 1}, headers={"X-Cybozu-API-Token": "nope"}, timeout=5)
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "GAIA_IA02"
    other_app = sandbox.config.kintone.apps["2"].api_token
    wrong_app = requests.get(url, params={"app": 1}, headers={"X-Cybozu-API-Token": other_app}, timeout=5)
    assert wrong_app.status_code == 403
    assert wrong_app.json()["code"] == "GAIA_NO01"
    both = f"{other_app},{sandbox.config.kintone.apps['1'].api_token}"
    joined = requests.get(url, params={"app": 1}, headers={"X-Cybozu-API-Token": both}, timeout=5)
    assert joined.status_code == 200


def test_more_than_100_records_is_a_validation_error(kintone, sandbox):
    reply = kintone.put(
        "/records.json",
        json={
            "app": 1,
            "upsert": True,
            "records": [upsert(str(i), company="C") for i in range(101)],
        },
    )
    assert reply.status_code == 400
    assert reply.json()["code"] == "CB_VA01"
    assert "records" in reply.json()["errors"]
    added = kintone.post("/records.json", json={"app": 1, "records": [add(company="C")] * 101})
    assert added.json()["code"] == "CB_VA01"
    app = sandbox.kintone.apps["1"]
    assert app.select(parse("", app.form)) == []


def test_upsert_inserts_then_updates_and_counts_revisions(kintone):
    first = kintone.put(
        "/records.json",
        json={
            "app": 1,
            "upsert": True,
            "records": [upsert("1001", company="株式会社テスト", employees=120)],
        },
    )
    assert first.json() == {"records": [{"id": "1", "operation": "INSERT", "revision": "1"}]}
    second = kintone.put(
        "/records.json",
        json={
            "app": "1",
            "upsert": True,
            "records": [upsert("1001", score="85")],
        },
    )
    assert second.json() == {"records": [{"id": "1", "operation": "UPDATE", "revision": "2"}]}
    record = kintone.get("/record.json", params={"app": 1, "id": 1}).json()["record"]
    assert record["employees"] == {"type": "NUMBER", "value": "120"}
    assert record["score"] == {"type": "NUMBER", "value": "85"}
    assert record["company"]["value"] == "株式会社テスト"
    assert record["$revision"] == {"type": "__REVISION__", "value": "2"}
    assert record["status"]["value"] == "未対応"  # the drop-down's default
    plain = kintone.put("/records.json", json={"app": 1, "records": [upsert("404", score="1")]})
    assert plain.status_code == 404
    assert plain.json()["code"] == "GAIA_RE20"


def test_invalid_values_are_all_reported_and_nothing_is_written(kintone, sandbox):
    reply = kintone.post(
        "/records.json",
        json={
            "app": 1,
            "records": [
                add(company="A", industry="宇宙産業"),
                add(employees="many"),
            ],
        },
    )
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == "CB_VA01"
    assert body["errors"]["records[0].industry.value"]["messages"] == ['"宇宙産業"は選択肢にありません。']
    assert body["errors"]["records[1].company.value"]["messages"] == ["必須です。"]
    assert "records[1].employees.value" in body["errors"]
    assert kintone.get("/records.json", params={"app": 1}).json()["records"] == []


def test_messages_follow_accept_language(kintone):
    reply = kintone.post("/record.json", json={"app": 1, "record": {}}, headers={"Accept-Language": "en-US"})
    assert reply.json()["message"] == "Missing or invalid input."
    assert reply.json()["errors"]["record.company.value"]["messages"] == ["Required field."]


def test_unique_fields_clash_with_other_records_and_within_a_request(kintone):
    kintone.post("/record.json", json={"app": 1, "record": add(company="A", hubspot_contact_id="1")})
    reply = kintone.post(
        "/records.json",
        json={
            "app": 1,
            "records": [
                add(company="B", hubspot_contact_id="1"),
                add(company="C", hubspot_contact_id="2"),
                add(company="D", hubspot_contact_id="2"),
            ],
        },
    )
    errors = reply.json()["errors"]
    assert set(errors) == {f"records[{i}].hubspot_contact_id.value" for i in range(3)}
    assert errors["records[0].hubspot_contact_id.value"]["messages"] == ["値がほかのレコードと重複しています。"]


def test_a_stale_revision_fails_with_gaia_co02(kintone):
    kintone.post("/record.json", json={"app": 1, "record": add(company="A")})
    kintone.put("/record.json", json={"app": 1, "id": 1, "record": add(score=10)})
    stale = kintone.put(
        "/records.json",
        json={
            "app": 1,
            "records": [
                {"id": 1, "revision": 1, "record": add(score=20)},
            ],
        },
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "GAIA_CO02"
    current = kintone.put(
        "/records.json",
        json={
            "app": 1,
            "records": [
                {"id": "1", "revision": "2", "record": add(score=20)},
            ],
        },
    )
    assert current.json() == {"records": [{"id": "1", "revision": "3"}]}


def test_queries_filter_order_and_page(kintone, clock):
    for i in range(5):
        kintone.post("/record.json", json={"app": 1, "record": add(company=f"C{i}", score=i * 10)})
        clock.advance(minutes=1)
    default = kintone.get("/records.json", params={"app": 1}).json()["records"]
    assert [r["$id"]["value"] for r in default] == ["5", "4", "3", "2", "1"]  # $id desc by default
    page = kintone.get(
        "/records.json",
        params={
            "app": 1,
            "query": "score >= 10 order by $id asc limit 2 offset 1",
            "totalCount": "true",
            "fields[0]": "$id",
            "fields[1]": "score",
        },
    ).json()
    assert page["totalCount"] == "4"
    assert [(r["$id"]["value"], r["score"]["value"]) for r in page["records"]] == [("3", "20"), ("4", "30")]
    assert set(page["records"][0]) == {"$id", "score"}
    changed = kintone.get(
        "/records.json",
        params={
            "app": 1,
            "query": 'updated_time > "2026-01-05T00:02:00Z" and company in ("C3", "C4")',
        },
    ).json()["records"]
    assert {r["company"]["value"] for r in changed} == {"C3", "C4"}
    assert changed[0]["updated_time"]["value"].endswith(":00Z")
    too_many = kintone.get("/records.json", params={"app": 1, "query": "limit 501"})
    assert too_many.json()["code"] == "CB_VA01"
    too_far = kintone.get("/records.json", params={"app": 1, "query": "offset 10001"})
    assert too_far.json()["code"] == "CB_VA01"
    unknown = kintone.get("/records.json", params={"app": 1, "query": 'shoe = "9"'})
    assert unknown.json()["code"] == "GAIA_IQ11"
    drop_down = kintone.get("/records.json", params={"app": 1, "query": 'status = "未対応"'})
    assert drop_down.status_code == 400  # drop-downs take `in` only


def test_datetimes_are_kept_to_the_minute(kintone, clock):
    clock.advance(seconds=42)
    kintone.post("/record.json", json={"app": 1, "record": add(company="A", handoff_at="2026-01-05T09:30:59+09:00")})
    record = kintone.get("/record.json", params={"app": 1, "id": 1}).json()["record"]
    assert record["updated_time"]["value"] == "2026-01-05T00:00:00Z"
    assert record["handoff_at"]["value"] == "2026-01-05T00:30:00Z"


def test_cursors_page_expire_and_are_limited_to_ten(kintone, control):
    control.post(
        "/kintone/apps/1/records", json={"webhooks": False, "records": [{"company": f"C{i}"} for i in range(5)]}
    )
    created = kintone.post("/records/cursor.json", json={"app": 1, "size": 2, "query": "order by $id asc"})
    cursor = created.json()
    assert cursor["totalCount"] == "5"
    pages = []
    while True:
        page = kintone.get("/records/cursor.json", params={"id": cursor["id"]}).json()
        pages.append([r["company"]["value"] for r in page["records"]])
        if not page["next"]:
            break
    assert pages == [["C0", "C1"], ["C2", "C3"], ["C4"]]
    gone = kintone.get("/records/cursor.json", params={"id": cursor["id"]})
    assert gone.status_code == 400
    with_limit = kintone.post("/records/cursor.json", json={"app": 1, "query": "limit 10"})
    assert with_limit.json()["code"] == "CB_VA01"
    ids = [kintone.post("/records/cursor.json", json={"app": 1}).json()["id"] for _ in range(10)]
    full = kintone.post("/records/cursor.json", json={"app": 1})
    assert full.json()["code"] == "GAIA_TM12"
    assert kintone.delete("/records/cursor.json", json={"id": ids[0]}).json() == {}
    assert kintone.post("/records/cursor.json", json={"app": 1}).status_code == 200


def test_too_many_concurrent_requests_get_429(kintone, control):
    control.patch("/config", json={"kintone": {"concurrency_limit": 1}})
    control.post("/failures", json={"endpoint": "kintone.form_fields", "status": 503, "delay": 0.3})
    slow = threading.Thread(target=kintone.get, args=("/app/form/fields.json",), kwargs={"params": {"app": 1}})
    slow.start()
    try:
        for _ in range(50):
            reply = kintone.get("/records.json", params={"app": 1})
            if reply.status_code == 429:
                break
        assert reply.status_code == 429
    finally:
        slow.join()
    assert kintone.get("/records.json", params={"app": 1}).status_code == 200


def test_form_fields_carry_japanese_labels_and_types(kintone):
    fields = kintone.get("/app/form/fields.json", params={"app": 1}).json()["properties"]
    assert fields["company"]["label"] == "会社名"
    assert fields["hubspot_contact_id"]["type"] == "SINGLE_LINE_TEXT"
    assert fields["hubspot_contact_id"]["unique"] is True
    assert fields["industry"]["type"] == "DROP_DOWN"
    assert "情報通信業" in fields["industry"]["options"]
    assert fields["employees"]["type"] == "NUMBER"
    assert fields["updated_time"]["type"] == "UPDATED_TIME"
