"""kintone API connector: the contract, plus conflicts, seek pagination, tokens and budget."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, RateLimited
from connectors.base import WebhookRequest
from connectors.kintone import KintoneConnector
from connectors.testing import SPENT_RETRY_AFTER, ConnectorContract, SpentBudget, script
from tests.connectors.fakes import kintone_records
from tests.helpers import kintone_notification

BASE = "https://example.cybozu.com"
RECORDS = f"{BASE}/k/v1/records.json"
TOKEN = "kintone-api-token-AAAAAAAAAAAAAAAAAAAA"
ENV = {"KINTONE_BASE_URL": BASE, "KINTONE_API_TOKEN": TOKEN, "KINTONE_APP_ID": "7"}
WEBHOOK_TOKEN = "kintone-webhook-token-0123456789"
INVALID = "入力内容が正しくありません。"


def upserted(body) -> tuple[int, dict]:
    return 200, {
        "records": [
            {"id": str(100 + i), "operation": "INSERT", "revision": "1"}
            for i, _ in enumerate(body["records"])
        ]
    }


def stored(record_id: int, **values: str) -> dict:
    """A record as GET /k/v1/records.json returns it."""
    record = {
        "$id": {"type": "__ID__", "value": str(record_id)},
        "$revision": {"type": "__REVISION__", "value": "1"},
    }
    record.update(
        {code: {"type": "SINGLE_LINE_TEXT", "value": value} for code, value in values.items()}
    )
    return record


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


class TestKintoneContract(ConnectorContract):
    connector_class = KintoneConnector
    settings = {**ENV, "KINTONE_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "KINTONE_APP_IDS": "7"}
    secret = TOKEN
    auth_setting = "KINTONE_API_TOKEN"
    object = "7"
    key_field = "hubspot_contact_id"
    batch_size = 100
    upsert_method = "PUT"
    upsert_url = RECORDS
    upsert_endpoint = "PUT records"
    throttled = (429, "Too Many Requests")
    rejection = (
        400,
        {
            "code": "CB_VA01",
            "id": "1505999166-897850006",
            "message": INVALID,
            "errors": {"app": {"messages": ["必須です。"]}},
        },
    )
    rejection_fields = ("app",)
    partial_fields = ("email",)
    partial_calls = 2  # kintone writes all or nothing: the valid records go again without the bad one
    change = ("7", "2", "updated")
    scan_page, scan_endpoints = 500, ("GET records",)

    def upsert_reply(self, body):
        return upserted(body)

    def partial_reply(self, body, bad_key):
        keys = [r["updateKey"]["value"] for r in body["records"]]
        if bad_key not in keys:
            return upserted(body)
        return 400, {
            "code": "CB_VA01",
            "id": "1505999166-897850006",
            "message": INVALID,
            "errors": {
                f"records[{keys.index(bad_key)}].record.email.value": {
                    "messages": ["メールアドレスの形式が正しくありません。"]
                }
            },
        }

    def reject_credentials(self, rsps):
        rsps.get(
            RECORDS,
            status=401,
            json={"code": "GAIA_IA02", "id": "x", "message": "指定したAPIトークンが無効です。"},
        )

    def serve_scan(self, rsps, ids):
        rsps.add_callback("GET", RECORDS, callback=kintone_records([int(i) for i in ids]))

    def record_id(self, record):
        return record["$id"]

    def delivery(self, now):
        body = json.dumps(kintone_notification(), ensure_ascii=False).encode()
        url = f"https://bridge.example.co.jp/webhooks/kintone?token={WEBHOOK_TOKEN}"
        return WebhookRequest("POST", url, {"Content-Type": "application/json"}, {"token": WEBHOOK_TOKEN}, body)


@pytest.fixture
def kintone(clock, rsps) -> KintoneConnector:
    return KintoneConnector.from_env(EnvReader(ENV), clock=clock)


def test_records_are_sent_as_upserts_on_the_update_key(kintone, rsps):
    script(rsps, "PUT", RECORDS, upserted)
    kintone.upsert(
        "7", "hubspot_contact_id", [{"hubspot_contact_id": "5001", "email": "a@example.co.jp"}]
    )
    assert json.loads(rsps.calls[0].request.body) == {
        "app": "7",
        "upsert": True,
        "records": [
            {
                "updateKey": {"field": "hubspot_contact_id", "value": "5001"},
                "record": {"email": {"value": "a@example.co.jp"}},
            }
        ],
    }
    assert rsps.calls[0].request.headers["X-Cybozu-API-Token"] == TOKEN


def test_revision_conflict_rereads_revisions_and_retries(kintone, rsps):
    conflict = (
        409,
        {"code": "GAIA_CO02", "id": "x", "message": "指定したrevisionは最新ではありません。"},
    )
    script(
        rsps,
        "PUT",
        RECORDS,
        conflict,
        lambda body: (200, {"records": [{"id": "12", "operation": "UPDATE", "revision": "6"}]}),
    )
    rsps.get(
        RECORDS,
        json={
            "records": [
                {
                    **stored(12, hubspot_contact_id="5001"),
                    "$revision": {"type": "__REVISION__", "value": "5"},
                }
            ]
        },
    )
    [result] = kintone.upsert(
        "7",
        "hubspot_contact_id",
        [{"hubspot_contact_id": "5001", "$revision": "3", "lead_status": "contacted"}],
    )
    assert result.outcome == "updated" and result.id == "12"
    puts = [json.loads(c.request.body) for c in rsps.calls if c.request.method == "PUT"]
    assert [p["records"][0]["revision"] for p in puts] == ["3", "5"]
    assert query_of(rsps.calls[1])["query"] == ['hubspot_contact_id in ("5001") limit 500']


def test_changed_since_seeks_by_record_id_past_each_page(kintone, rsps):
    rsps.get(
        f"{BASE}/k/v1/app/form/fields.json",
        json={
            "revision": "3",
            "properties": {
                "更新日時": {"type": "UPDATED_TIME", "code": "更新日時", "label": "更新日時"},
                "email": {
                    "type": "SINGLE_LINE_TEXT",
                    "code": "email",
                    "label": "Email",
                    "required": False,
                },
            },
        },
    )
    script(
        rsps,
        "GET",
        RECORDS,
        (200, {"records": [stored(n) for n in range(1, 501)], "totalCount": None}),
        (200, {"records": [stored(501)], "totalCount": None}),
    )
    ids = [
        r["$id"] for r in kintone.changed_since("7", datetime(2026, 11, 1, tzinfo=UTC), ["email"])
    ]
    assert ids == [str(n) for n in range(1, 502)]
    queries = [query_of(c)["query"][0] for c in rsps.calls if c.request.url.startswith(RECORDS)]
    assert queries == [
        '更新日時 >= "2026-11-01T00:00:00Z" and $id > 0 order by $id asc limit 500',
        '更新日時 >= "2026-11-01T00:00:00Z" and $id > 500 order by $id asc limit 500',
    ]
    assert query_of(rsps.calls[1])["fields[0]"] == ["email"]


def test_long_reads_go_as_a_post_kintone_treats_as_get(kintone, rsps):
    rsps.post(RECORDS, json={"records": [stored(1, email="lead0@marketing.example.co.jp")]})
    emails = [f"lead{i}@marketing.example.co.jp" for i in range(100)]
    found = kintone.read("7", emails, ["email"], id_field="email")
    assert list(found) == ["lead0@marketing.example.co.jp"]
    call = rsps.calls[0]
    assert call.request.headers["X-HTTP-Method-Override"] == "GET"
    assert json.loads(call.request.body)["fields"] == ["email", "$id", "$revision"]


def test_several_tokens_are_joined_with_commas(clock, rsps):
    kintone = KintoneConnector.from_env(
        EnvReader({**ENV, "KINTONE_API_TOKEN": f"{TOKEN}, lookup-token"}), clock=clock
    )
    rsps.get(RECORDS, json={"records": []})
    kintone.check()
    assert rsps.calls[0].request.headers["X-Cybozu-API-Token"] == f"{TOKEN},lookup-token"


def test_missing_permission_is_an_auth_error(kintone, rsps):
    rsps.get(
        RECORDS, status=403, json={"code": "CB_NO02", "id": "x", "message": "権限がありません。"}
    )
    with pytest.raises(AuthError, match="no permission"):
        kintone.check()


def test_updating_by_record_id_does_not_upsert(kintone, rsps):
    script(rsps, "PUT", RECORDS, (200, {"records": [{"id": "12", "revision": "4"}]}))
    [result] = kintone.upsert("7", "$id", [{"$id": "12", "lead_status": "contacted"}])
    assert result.outcome == "updated"
    assert json.loads(rsps.calls[0].request.body) == {
        "app": "7",
        "records": [{"id": "12", "record": {"lead_status": {"value": "contacted"}}}],
    }


def test_daily_budget_warns_near_the_limit_and_stops_at_it_until_9_jst(clock, rsps, caplog):
    kintone = KintoneConnector.from_env(EnvReader({**ENV, "KINTONE_DAILY_LIMIT": "10"}), clock=clock)
    rsps.get(RECORDS, json={"records": []})
    with caplog.at_level(logging.WARNING):
        for _ in range(10):
            kintone.check()
    assert [r.getMessage() for r in caplog.records] == ["kintone app 7: 9 of 10 calls a day (from 00:00 UTC) used"]
    with pytest.raises(RateLimited) as caught:
        kintone.check()
    # 03:00 UTC: the app's counter resets at 00:00 UTC (9:00 JST), 21 hours on.
    assert caught.value.retry_after == 21 * 3600
    assert len(rsps.calls) == 10
    clock.advance(hours=21)
    kintone.check()
    assert len(rsps.calls) == 11


def test_each_app_has_its_own_daily_budget(clock, rsps):
    kintone = KintoneConnector.from_env(EnvReader({**ENV, "KINTONE_DAILY_LIMIT": "1"}), clock=clock)
    rsps.get(RECORDS, json={"records": []})
    kintone.read("7", ["1"], [])
    kintone.read("8", ["1"], [])
    with pytest.raises(RateLimited):
        kintone.read("7", ["2"], [])
    assert [query_of(c)["app"] for c in rsps.calls] == [["7"], ["8"]]


def test_a_busy_slot_is_refused_not_waited_for(clock, rsps):
    kintone = KintoneConnector.from_env(EnvReader({**ENV, "KINTONE_MAX_CONCURRENCY": "1"}), clock=clock)
    inner = []

    def reply(request):
        # A second request while this one is in flight (as another thread would make).
        with pytest.raises(RateLimited, match="KINTONE_MAX_CONCURRENCY") as caught:
            kintone.check()
        inner.append(caught.value.retry_after)
        return 200, {}, json.dumps({"records": []})

    rsps.add_callback("GET", RECORDS, callback=reply)
    kintone.check()
    assert inner == [1.0] and len(rsps.calls) == 1
    rsps.replace("GET", RECORDS, json={"records": []})
    kintone.check()  # the slot was given back


def test_describe_maps_field_types(kintone, rsps):
    rsps.get(
        f"{BASE}/k/v1/app/form/fields.json",
        json={
            "revision": "3",
            "properties": {
                "status": {
                    "type": "DROP_DOWN",
                    "code": "status",
                    "label": "Status",
                    "required": True,
                    "options": {
                        "Hot": {"label": "Hot", "index": "1"},
                        "Cold": {"label": "Cold", "index": "0"},
                    },
                },
                "hubspot_contact_id": {
                    "type": "SINGLE_LINE_TEXT",
                    "code": "hubspot_contact_id",
                    "label": "HS id",
                    "unique": True,
                },
                "mail": {"type": "LINK", "code": "mail", "label": "Mail", "protocol": "MAIL"},
                "calls": {"type": "SUBTABLE", "code": "calls", "fields": {}},
            },
        },
    )
    fields = kintone.describe("7")
    assert fields["status"].options == ("Cold", "Hot") and fields["status"].required
    assert fields["hubspot_contact_id"].unique
    assert fields["mail"].type == "email"
    assert fields["calls"].type == "subtable"
    assert query_of(rsps.calls[0])["app"] == ["7"]


def test_settings_problems_are_all_reported():
    read = EnvReader(
        {
            "KINTONE_BASE_URL": "example.cybozu.com",
            "KINTONE_APP_ID": "leads",
            "KINTONE_MAX_CONCURRENCY": "500",
        }
    )
    KintoneConnector.from_env(read)
    assert len(read.problems) == 4  # token missing, URL, app id, concurrency


def test_a_conflict_that_persists_is_handed_back_as_retriable(kintone, rsps):
    conflict = (
        409,
        {"code": "GAIA_CO02", "id": "x", "message": "指定したrevisionは最新ではありません。"},
    )
    script(rsps, "PUT", RECORDS, conflict)
    rsps.get(RECORDS, json={"records": [stored(12, hubspot_contact_id="5001")]})
    [result] = kintone.upsert(
        "7", "hubspot_contact_id", [{"hubspot_contact_id": "5001", "$revision": "3"}]
    )
    assert (
        result.outcome == "failed" and result.category == "retriable" and result.code == "GAIA_CO02"
    )
    assert len([c for c in rsps.calls if c.request.method == "PUT"]) == 3


def test_records_named_invalid_stay_failed_when_the_resend_is_refused_by_the_budget(clock, rsps):
    budget = SpentBudget(spent=False)
    kintone = KintoneConnector.from_env(EnvReader(ENV), clock=clock, budget=budget)

    def invalid_second(body):
        budget.spent = True  # the re-send without the invalid record finds no call left
        return TestKintoneContract().partial_reply(body, "K1")

    script(rsps, "PUT", RECORDS, invalid_second)
    records = [{"hubspot_contact_id": f"K{i}", "email": f"lead{i}@example.co.jp"} for i in range(3)]
    results = kintone.upsert("7", "hubspot_contact_id", records)
    assert [(r.outcome, r.category) for r in results] == [
        ("failed", "retriable"), ("failed", "permanent"), ("failed", "retriable")
    ]
    assert results[1].code == "CB_VA01" and results[1].fields == ("email",)
    assert isinstance(results[0].error, RateLimited) and results[0].error.retry_after == SPENT_RETRY_AFTER
    assert len(rsps.calls) == 1


STATUS_URL = f"{BASE}/k/v1/records/status.json"
PROCESS = {"enable": True, "revision": "4", "states": {}, "actions": [
    {"name": "不通にする", "from": "対応中", "to": "不通", "filterCond": ""},
    {"name": "マーケに戻す", "from": "対応中", "to": "マーケに戻す", "filterCond": ""},
    {"name": "マーケに戻す", "from": "不通", "to": "マーケに戻す", "filterCond": ""},
]}


def with_status(record_id: int, key: str, status: str) -> dict:
    record = stored(record_id, hubspot_contact_id=key)
    record["ステータス"] = {"type": "STATUS", "value": status}
    return record


def process_app(rsps, *records: dict) -> None:
    rsps.get(f"{BASE}/k/v1/app/form/fields.json", json={"revision": "3", "properties": {
        "ステータス": {"type": "STATUS", "code": "ステータス", "label": "ステータス", "enabled": True},
        "hubspot_contact_id": {"type": "SINGLE_LINE_TEXT", "code": "hubspot_contact_id", "unique": True}}})
    rsps.get(RECORDS, json={"records": list(records), "totalCount": None})
    rsps.get(f"{BASE}/k/v1/app/status.json", json=PROCESS)


def test_the_process_status_is_named_from_the_form(kintone, rsps):
    process_app(rsps)
    assert kintone.status_field("7") == "ステータス"
    assert kintone.status_field("7") == "ステータス" and len(rsps.calls) == 1  # the form is read once


def test_records_move_by_the_action_that_leads_from_their_status_in_one_call(kintone, rsps):
    process_app(rsps, with_status(11, "5001", "対応中"), with_status(12, "5002", "不通"),
                with_status(13, "5003", "マーケに戻す"))
    script(rsps, "PUT", STATUS_URL, lambda body: (200, {"records": [
        {"id": r["id"], "revision": "9"} for r in body["records"]]}))
    results = kintone.move_statuses("7", "hubspot_contact_id",
                                    [("5001", "マーケに戻す"), ("5002", "マーケに戻す"), ("5003", "マーケに戻す")])
    assert [(r.key, r.outcome, r.id) for r in results] == [
        ("5001", "updated", "11"), ("5002", "updated", "12"), ("5003", "updated", "13")]
    (put,) = [json.loads(c.request.body) for c in rsps.calls if c.request.method == "PUT"]
    # One call for both records that move; the one already there is left alone.
    assert put == {"app": "7", "records": [{"id": "11", "action": "マーケに戻す"},
                                           {"id": "12", "action": "マーケに戻す"}]}


def test_a_record_with_no_action_to_its_target_fails_naming_both_statuses(kintone, rsps):
    process_app(rsps, with_status(11, "5001", "受注"), with_status(12, "5002", "対応中"))
    script(rsps, "PUT", STATUS_URL, lambda body: (200, {"records": [
        {"id": r["id"], "revision": "9"} for r in body["records"]]}))
    stuck, moved = kintone.move_statuses("7", "hubspot_contact_id", [("5001", "マーケに戻す"), ("5002", "不通")])
    assert (stuck.outcome, stuck.category, stuck.code, stuck.fields) == (
        "failed", "permanent", "NO_PROCESS_ACTION", ("ステータス",))
    assert "「受注」" in stuck.message and "「マーケに戻す」" in stuck.message and "プロセス管理" in stuck.message
    assert moved.outcome == "updated"
    # The process is read again next time: the admin may have added the action meanwhile.
    kintone.move_statuses("7", "hubspot_contact_id", [("5002", "不通")])
    assert sum(1 for c in rsps.calls if c.request.url.startswith(f"{BASE}/k/v1/app/status.json")) == 2


def test_a_refused_status_call_fails_only_its_records_with_the_error(kintone, rsps):
    process_app(rsps, with_status(11, "5001", "対応中"))
    script(rsps, "PUT", STATUS_URL, (503, {"code": "GAIA_TM12", "id": "x", "message": "busy"}))
    (result,) = kintone.move_statuses("7", "hubspot_contact_id", [("5001", "不通")])
    assert (result.outcome, result.category) == ("failed", "retriable")
