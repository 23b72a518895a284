"""What reconciliation reads through the connectors: full scans, deletions, and who changed a record when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.kernel.budget import LocalBudget
from bridge.kernel.env import EnvReader
from bridge.kernel.errors import RateLimited
from connectors.hubspot import HubSpotConnector
from connectors.kintone import KintoneConnector
from connectors.salesforce import SalesforceConnector
from connectors.testing import SpentBudget
from tests.connectors.fakes import hubspot_search, kintone_records, salesforce_query

HUBSPOT = "https://api.hubapi.com"
SEARCH = f"{HUBSPOT}/crm/v3/objects/contacts/search"
INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v62.0"
DELETED = f"{DATA}/sobjects/Lead/deleted/"
KINTONE = "https://example.cybozu.com"
RECORDS = f"{KINTONE}/k/v1/records.json"
FORM = f"{KINTONE}/k/v1/app/form/fields.json"
SF_ENV = {
    "SALESFORCE_CLIENT_ID": "3MVG9-consumer-key",
    "SALESFORCE_CLIENT_SECRET": "consumer-secret-0123456789ABCDEF",
    "SALESFORCE_LOGIN_URL": INSTANCE,
}
NOW = datetime(2026, 11, 20, 3, 0, 30, tzinfo=UTC)


def hubspot(clock, budget=None) -> HubSpotConnector:
    return HubSpotConnector.from_env(EnvReader({"HUBSPOT_ACCESS_TOKEN": "pat-na1-x"}), clock=clock, budget=budget)


@pytest.fixture
def salesforce(clock, rsps) -> SalesforceConnector:
    rsps.post(f"{INSTANCE}/services/oauth2/token", json={"access_token": "00D!s", "instance_url": INSTANCE})
    return SalesforceConnector.from_env(EnvReader(SF_ENV), clock=clock, budget=SpentBudget(spent=False))


@pytest.fixture
def kintone(clock) -> KintoneConnector:
    env = {"KINTONE_BASE_URL": KINTONE, "KINTONE_API_TOKEN": "kintone-token", "KINTONE_APP_ID": "7"}
    return KintoneConnector.from_env(EnvReader(env), clock=clock)


# --- HubSpot ------------------------------------------------------------------------------------------------------


def test_hubspot_scan_opens_a_new_id_window_before_the_10000_result_cap(clock, rsps):
    ids = [str(1001 + i) for i in range(10_450)]
    bodies: list[dict] = []
    rsps.add_callback("POST", SEARCH, callback=hubspot_search(ids, bodies))
    connector = hubspot(clock, SpentBudget(spent=False))
    got = [r["hs_object_id"] for r in connector.scan("contacts", ["email"])]
    assert got == ids  # each once, in id order
    assert len(bodies) == connector.calls[f"POST {SEARCH.removeprefix(HUBSPOT)}"] == 53  # ceil(10,450 / 200)
    assert max(int(b.get("after") or 0) for b in bodies) == 9800  # never 10,000 or more
    windows = [b["filterGroups"][0]["filters"][0] for b in bodies if "after" not in b]
    assert windows == [
        {"propertyName": "hs_object_id", "operator": "GT", "value": "0"},
        {"propertyName": "hs_object_id", "operator": "GT", "value": ids[9_999]},
    ]
    assert bodies[0]["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert bodies[0]["limit"] == 200 and bodies[0]["properties"] == ["email"]


def test_hubspot_scan_spends_the_search_budget_and_resumes_after_the_last_id(clock, rsps):
    ids = [str(1001 + i) for i in range(1_000)]
    rsps.add_callback("POST", SEARCH, callback=hubspot_search(ids))
    connector = hubspot(clock, LocalBudget())  # search: 4 calls a second
    got: list[str] = []
    with pytest.raises(RateLimited) as caught:
        for record in connector.scan("contacts", []):
            got.append(record["hs_object_id"])
    assert got == ids[:800] and len(rsps.calls) == 4  # the fifth call was never sent
    clock.advance(seconds=caught.value.retry_after)
    got += [r["hs_object_id"] for r in connector.scan("contacts", [], after=got[-1])]
    assert got == ids
    assert len(rsps.calls) == 5


def test_hubspot_says_where_a_change_is_recorded_and_cannot_list_deletions(clock, rsps):
    connector = hubspot(clock)
    assert connector.change_fields("contacts") == ("lastmodifieddate", "hs_updated_by_user_id")
    assert connector.change_fields("deals") == ("hs_lastmodifieddate", "hs_updated_by_user_id")
    assert connector.deleted_since("contacts", NOW - timedelta(days=1), NOW) is None
    assert len(rsps.calls) == 0


# --- Salesforce ---------------------------------------------------------------------------------------------------


def test_salesforce_scan_orders_by_id_at_the_largest_batch_and_follows_next_records_url(salesforce, rsps):
    ids = [f"00Q5g{i:010d}AAA" for i in range(4_500)]
    rsps.add_callback("GET", *salesforce_query(DATA, ids))
    got = [r["Id"] for r in salesforce.scan("Lead", ["Email", "LastModifiedById"])]
    assert got == ids
    queries = [c.request for c in rsps.calls if "/query" in c.request.url]
    assert len(queries) == 3  # ceil(4,500 / 2,000)
    assert parse_qs(urlsplit(queries[0].url).query)["q"] == [
        "SELECT Email, Id, LastModifiedById FROM Lead ORDER BY Id"
    ]
    assert {q.headers["Sforce-Query-Options"] for q in queries} == {"batchSize=2000"}
    assert salesforce.calls["GET query"] == 1 and salesforce.calls["GET query (next page)"] == 2


def test_salesforce_scan_resumes_past_an_id(salesforce, rsps):
    ids = [f"00Q5g{i:010d}AAA" for i in range(10)]
    rsps.add_callback("GET", *salesforce_query(DATA, ids))
    assert [r["Id"] for r in salesforce.scan("Lead", [], after=ids[6])] == ids[7:]
    soql = parse_qs(urlsplit(rsps.calls[-1].request.url).query)["q"][0]
    assert soql == f"SELECT Id FROM Lead WHERE Id > '{ids[6]}' ORDER BY Id"  # noqa: S608 (SOQL expected, not run)


def deleted_reply(*records: tuple[str, str], earliest: str = "2026-11-05T03:01:00.000+0000") -> dict:
    return {
        "deletedRecords": [{"id": i, "deletedDate": when} for i, when in records],
        "earliestDateAvailable": earliest,
        "latestDateCovered": "2026-11-20T03:00:00.000+0000",
    }


def test_salesforce_deleted_since_reads_get_deleted_from_the_minute_of_since(salesforce, rsps):
    rsps.get(DELETED, json=deleted_reply(
        ("00Q5g0000000001AAA", "2026-11-19T10:15:10.000+0000"),  # in since's minute, before since: not asked for
        ("00Q5g0000000002AAA", "2026-11-19T10:15:40.000+0000"),
        ("00Q5g0000000003AAA", "2026-11-20T02:59:00.000+0000"),
    ))
    since = datetime(2026, 11, 19, 10, 15, 30, tzinfo=UTC)
    assert salesforce.deleted_since("Lead", since, NOW) == [
        ("00Q5g0000000002AAA", datetime(2026, 11, 19, 10, 15, 40, tzinfo=UTC)),
        ("00Q5g0000000003AAA", datetime(2026, 11, 20, 2, 59, tzinfo=UTC)),
    ]
    [call] = [c for c in rsps.calls if c.request.url.startswith(DELETED)]
    # Salesforce reads both to the minute (seconds ignored), so start is since's minute.
    assert parse_qs(urlsplit(call.request.url).query) == {
        "start": ["2026-11-19T10:15:00+00:00"], "end": ["2026-11-20T03:00:30+00:00"],
    }
    assert salesforce.calls["GET sobjects/Lead/deleted"] == 1


def test_salesforce_deleted_since_starts_more_than_a_minute_before_now(salesforce, rsps):
    rsps.get(DELETED, json=deleted_reply(("00Q5g0000000002AAA", "2026-11-20T03:00:10.000+0000")))
    since = NOW - timedelta(seconds=40)
    assert salesforce.deleted_since("Lead", since, NOW) == [
        ("00Q5g0000000002AAA", datetime(2026, 11, 20, 3, 0, 10, tzinfo=UTC))
    ]
    query = parse_qs(urlsplit(rsps.calls[-1].request.url).query)
    assert query["start"] == ["2026-11-20T02:58:00+00:00"]  # start must precede end by more than a minute


def test_salesforce_cannot_tell_deletions_beyond_the_recycle_bin(salesforce, rsps):
    rsps.get(DELETED, json=deleted_reply(earliest="2026-11-10T00:00:00.000+0000"))
    assert salesforce.deleted_since("Lead", NOW - timedelta(days=15, seconds=1), NOW) is None
    assert not [c for c in rsps.calls if c.request.url.startswith(DELETED)]  # known without asking
    # An admin emptied the recycle bin on 11-10: what went before then is no longer listed.
    purged = datetime(2026, 11, 10, tzinfo=UTC)
    assert salesforce.deleted_since("Lead", purged - timedelta(minutes=1), NOW) is None
    assert salesforce.deleted_since("Lead", purged, NOW) == []
    assert len([c for c in rsps.calls if c.request.url.startswith(DELETED)]) == 2


def test_salesforce_cannot_tell_when_get_deleted_refuses_the_dates(salesforce, rsps):
    refused = [{"errorCode": "INVALID_REPLICATION_DATE", "message": "startDate is before the purge"}]
    rsps.get(DELETED, status=400, json=refused)
    assert salesforce.deleted_since("Lead", NOW - timedelta(days=3), NOW) is None


def test_salesforce_names_its_change_fields(salesforce):
    assert salesforce.change_fields("Lead") == ("LastModifiedDate", "LastModifiedById")


# --- kintone ------------------------------------------------------------------------------------------------------


def test_kintone_scan_seeks_by_id_and_stops_on_the_total_count(kintone, rsps):
    rsps.add_callback("GET", RECORDS, callback=kintone_records(list(range(1, 1001))))
    got = [r["$id"] for r in kintone.scan("7", ["email"])]
    assert got == [str(i) for i in range(1, 1001)]
    queries = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls]
    assert [q["query"] for q in queries] == [
        ["$id > 0 order by $id asc limit 500"], ["$id > 500 order by $id asc limit 500"]
    ]  # 1,000 records, 2 calls: the count says the second full page is the last
    assert queries[0]["totalCount"] == ["true"] and "totalCount" not in queries[1]
    assert {tuple(q["fields[0]"]) for q in queries} == {("email",)}


def test_kintone_scan_without_a_count_stops_on_a_short_page(kintone, rsps):
    rsps.add_callback("GET", RECORDS, callback=kintone_records(list(range(1, 1001)), count=False))
    assert len(list(kintone.scan("7", []))) == 1000
    assert len(rsps.calls) == 3  # the third page, empty, is how it knows


def test_kintone_scan_resumes_after_an_id(kintone, rsps):
    rsps.add_callback("GET", RECORDS, callback=kintone_records([3, 5, 8, 13]))
    assert [r["$id"] for r in kintone.scan("7", [], after="5")] == ["8", "13"]
    assert parse_qs(urlsplit(rsps.calls[0].request.url).query)["query"] == ["$id > 5 order by $id asc limit 500"]


def test_kintone_change_fields_are_the_apps_updated_time_and_modifier_fields(kintone, rsps):
    rsps.get(FORM, json={"revision": "3", "properties": {
        "更新者": {"type": "MODIFIER", "code": "更新者", "label": "更新者"},
        "更新日時": {"type": "UPDATED_TIME", "code": "更新日時", "label": "更新日時"},
        "会社名": {"type": "SINGLE_LINE_TEXT", "code": "会社名", "label": "会社名"},
    }})
    assert kintone.change_fields("7") == ("更新日時", "更新者")
    assert kintone.change_fields("7") == ("更新日時", "更新者")
    assert len(rsps.calls) == 1  # the form is read once per app


def test_kintone_app_without_a_modifier_field_names_none(kintone, rsps):
    rsps.get(FORM, json={"properties": {"updated": {"type": "UPDATED_TIME", "code": "updated"}}})
    assert kintone.change_fields("7") == ("updated", None)
    assert kintone.deleted_since("7", NOW - timedelta(hours=1), NOW) is None  # kintone has no deleted-records API
    assert len(rsps.calls) == 1
