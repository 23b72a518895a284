"""GET /api/leads, /api/leads/<id>, /api/outbox and POST /api/outbox/replay: bearer auth, filters,
the timeline, dead letters with their reason, replay, and 400s that name the problem."""

from __future__ import annotations

import pytest

from bridge.app import MAX_BODY_BYTES, create_app
from tests.conftest import BASE_ENV
from tests.handoff.test_timeline import KINTONE_ERROR, KINTONE_ROUTE, PRICING, at, handed_off_lead
from tests.helpers import open_chunked

AUTH = {"Authorization": f"Bearer {BASE_ENV['BRIDGE_LEADS_TOKEN']}"}


def get(client, url, headers=AUTH):
    return client.get(url, headers=headers)


def replay(client, body, headers=AUTH):
    return client.post("/api/outbox/replay", json=body, headers=headers)


@pytest.fixture
def two_leads(store):
    first = handed_off_lead(store)
    second = handed_off_lead(store, hubspot_id="502", email="taro.yamada@example.co.jp", lastname="山田",
                             company="山田商事株式会社")
    with store.unit_of_work() as work:  # a third lead, not handed off yet
        work.leads.touch(at(300), email="waiting@example.co.jp")
    return first, second


def _dead_ids(store):
    return [item["id"] for item in store.outbox.items(status="dead")]


# -- auth ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, url", [("GET", "/api/leads"), ("GET", "/api/leads/1"), ("GET", "/api/outbox"),
                                         ("POST", "/api/outbox/replay")])
def test_every_route_needs_the_bearer_token(client, method, url):
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic x"}):
        response = client.open(url, method=method, headers=headers, json={"all": True})
        assert response.status_code == 401, (method, url, headers)
        assert "BRIDGE_LEADS_TOKEN" in response.json["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_without_a_configured_token_the_api_is_off(make_settings):
    client = create_app(make_settings(BRIDGE_LEADS_TOKEN=None)).test_client()
    response = get(client, "/api/leads")
    assert response.status_code == 503 and "set BRIDGE_LEADS_TOKEN" in response.json["error"]


# -- leads ---------------------------------------------------------------------------------------
def test_list_newest_first_with_name_company_and_handoff(client, two_leads):
    body = get(client, "/api/leads").json
    assert body["total"] == 3 and body["offset"] == 0 and body["limit"] == 100
    assert [lead["email"] for lead in body["leads"]] == \
        ["waiting@example.co.jp", "taro.yamada@example.co.jp", "hanako.sato@example.co.jp"]
    taro = body["leads"][1]
    assert (taro["name"], taro["company"], taro["score"], taro["stage"], taro["temperature"]) == \
        ("山田 花子", "山田商事株式会社", 115, "consideration", "hot")
    assert taro["handed_off"] is True and taro["handoff_criterion"] == PRICING
    assert body["leads"][0]["handed_off"] is False


def test_filters_and_paging(client, two_leads):
    assert [lead["email"] for lead in get(client, "/api/leads?handed_off=false").json["leads"]] == \
        ["waiting@example.co.jp"]
    handed = get(client, "/api/leads?handed_off=true&limit=1&offset=1").json
    assert handed["total"] == 2 and [lead["email"] for lead in handed["leads"]] == ["hanako.sato@example.co.jp"]
    assert [lead["hubspot_id"] for lead in get(client, "/api/leads?email=Taro.Yamada@Example.co.jp").json["leads"]] \
        == ["502"]
    assert [lead["email"] for lead in get(client, "/api/leads?hubspot_id=501").json["leads"]] == \
        ["hanako.sato@example.co.jp"]
    assert get(client, "/api/leads?hubspot_id=501&handed_off=false").json["leads"] == []
    assert get(client, "/api/leads?email=nobody@example.co.jp").json == {"leads": [], "total": 0, "limit": 100,
                                                                        "offset": 0}


@pytest.mark.parametrize("query, words", [
    ("handed_off=maybe", "handed_off must be true or false"),
    ("limit=0", "limit must be a whole number from 1 to 1000"),
    ("limit=ten", "limit must be a whole number from 1 to 1000"),
    ("offset=-1", "offset must be a whole number"),
    ("status=dead", "unknown parameter(s) status"),
    ("email=a@example.co.jp&hubspot_id=1", "not both"),
])
def test_bad_queries_are_400_naming_the_problem(client, query, words):
    response = get(client, f"/api/leads?{query}")
    assert response.status_code == 400 and words in response.json["error"]


def test_a_lead_is_its_timeline(client, two_leads):
    first, _ = two_leads
    body = get(client, f"/api/leads/{first}").json
    assert body["lead"]["email"] == "hanako.sato@example.co.jp" and body["lead"]["properties"]["company"]
    kinds = [entry["kind"] for entry in body["entries"]]
    assert kinds.count("event") == 2 and kinds.count("activity") == 3 and kinds.count("decision") == 2
    handoff = next(e for e in body["entries"] if e["kind"] == "decision" and e["decision"]["handed_off"])
    director = {"rule": "部長以上 (director or above)", "points": 20,
                "because": 'jobtitle "情報システム部長" contains 部長'}
    assert director in handoff["decision"]["explanation"]["fired"]
    dead = next(e for e in body["entries"] if e["kind"] == "write" and e["write"]["status"] == "dead")
    assert dead["write"]["last_error"] == KINTONE_ERROR and dead["write"]["fields"] == ["company"]


@pytest.mark.parametrize("lead_id", ["9999", "abc", "99999999999999999999999"])
def test_an_unknown_lead_is_404_saying_how_to_find_one(client, lead_id):
    response = get(client, f"/api/leads/{lead_id}")
    assert response.status_code == 404
    assert f"no lead with id '{lead_id}'" in response.json["error"] and "/api/leads?email=" in response.json["error"]


# -- outbox --------------------------------------------------------------------------------------
def test_dead_letters_are_listed_with_lead_reason_and_fields(client, two_leads):
    body = get(client, "/api/outbox?status=dead").json
    assert body["counts"] == {"pending": 0, "processing": 0, "done": 2, "dead": 2}
    assert [item["lead"]["email"] for item in body["items"]] == ["taro.yamada@example.co.jp",
                                                                 "hanako.sato@example.co.jp"]
    item = body["items"][0]
    assert (item["kind"], item["target"], item["status"], item["attempts"]) == ("upsert", KINTONE_ROUTE, "dead", 1)
    assert item["last_error"] == KINTONE_ERROR and item["fields"] == ["company"]
    assert item["lead"]["name"] == "山田 花子" and item["lead"]["hubspot_id"] == "502"
    assert len(get(client, "/api/outbox").json["items"]) == 4
    assert get(client, "/api/outbox?status=done&limit=1").json["items"][0]["result"]["system"] == "salesforce"


def test_bad_outbox_queries_are_400(client):
    response = get(client, "/api/outbox?status=failed")
    assert response.status_code == 400
    assert response.json["error"] == "status must be one of pending, processing, done, dead, not 'failed'"


def test_replay_by_ids_moves_them_to_pending_and_is_audited(client, store, two_leads):
    dead = _dead_ids(store)
    response = replay(client, {"ids": [dead[0]]}, headers={**AUTH, "X-Bridge-Actor": "山本"})
    assert response.status_code == 200 and response.json == {"replayed": 1}
    assert _dead_ids(store) == dead[1:]
    item = next(i for i in store.outbox.items(status="pending"))
    assert item["id"] == dead[0] and item["attempts"] == 0 and item["last_error"] is None
    entry = store.admin.audit_entries()[0]
    assert (entry["actor"], entry["action"], entry["target"], entry["detail"]) == \
        ("api:山本", "outbox_replay", f"outbox {dead[0]}", "1 replayed")
    assert replay(client, {"ids": [dead[0]]}).json == {"replayed": 0}  # no longer dead


def test_replay_all(client, store, two_leads):
    assert replay(client, {"all": True}).json == {"replayed": 2}
    assert _dead_ids(store) == [] and store.outbox.counts()["pending"] == 2


@pytest.mark.parametrize("body, words", [
    ({}, '"ids" must be a non-empty list'),
    ({"ids": []}, '"ids" must be a non-empty list'),
    ({"ids": "1"}, '"ids" must be a non-empty list'),
    ({"ids": [1, "2", True, -3]}, "\"ids\" must be whole numbers (outbox item ids); not '2', True, -3"),
    ({"ids": list(range(1, 1002))}, "send at most 1000"),
    ({"all": "yes"}, '"all" must be true'),
    ({"all": True, "ids": [1]}, 'give "ids" or "all", not both'),
    ({"id": 1}, "unknown key(s) id"),
    ([1, 2], "the body is not a JSON object"),
])
def test_bad_replay_bodies_are_400_naming_the_problem(client, store, two_leads, body, words):
    response = replay(client, body)
    assert response.status_code == 400 and words in response.json["error"]
    assert len(_dead_ids(store)) == 2


def test_replay_needs_a_json_body(client):
    response = client.post("/api/outbox/replay", data="ids=1", headers=AUTH)
    assert response.status_code == 400 and "Content-Type: application/json" in response.json["error"]


def test_a_chunked_replay_body_over_the_limit_is_413_and_replays_nothing(client, store, two_leads):
    body = b'{"all": true}' + b" " * MAX_BODY_BYTES  # cut at the limit, still {"all": true}
    response = open_chunked(client, "POST", "/api/outbox/replay", body, {**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert len(_dead_ids(store)) == 2
