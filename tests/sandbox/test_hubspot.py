"""The HubSpot simulator over loopback: auth, OAuth refresh, batch limits, upserts, search, rate limits."""

from __future__ import annotations

import requests

BATCH = "/crm/v3/objects/contacts/batch"


def upsert_input(key: str, id_property: str = "email", **properties: str) -> dict:
    return {"id": key, "idProperty": id_property, "properties": properties}


def test_call_without_a_token_gets_hubspots_401_body(sandbox):
    reply = requests.post(f"{sandbox.hubspot_url}{BATCH}/read", json={"inputs": []}, timeout=5)
    assert reply.status_code == 401
    body = reply.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"]


def test_refresh_token_grant_issues_a_30_minute_token_that_can_be_expired(sandbox, control):
    config = sandbox.config.hubspot
    form = {
        "grant_type": "refresh_token",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": config.refresh_token,
    }
    token = requests.post(f"{sandbox.hubspot_url}/oauth/v1/token", data=form, timeout=5).json()
    assert token["expires_in"] == 1800
    assert token["token_type"] == "bearer"
    assert token["refresh_token"] == config.refresh_token
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"{sandbox.hubspot_url}/crm/v3/properties/contacts"
    ok = requests.get(url, headers=headers, timeout=5)
    assert ok.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in ok.headers  # not sent on OAuth requests

    control.post("/tokens/expire", json={"system": "hubspot"})
    expired = requests.get(url, headers=headers, timeout=5)
    assert expired.status_code == 401
    assert expired.json()["category"] == "EXPIRED_AUTHENTICATION"

    bad = requests.post(f"{sandbox.hubspot_url}/oauth/v1/token", data={**form, "refresh_token": "nope"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["status"] == "BAD_REFRESH_TOKEN"


def test_a_batch_of_101_inputs_is_refused_and_nothing_is_written(hubspot, sandbox):
    inputs = [upsert_input(f"p{i}@example.com") for i in range(101)]
    reply = hubspot.post(f"{BATCH}/upsert", json={"inputs": inputs})
    assert reply.status_code == 400
    assert reply.json()["category"] == "VALIDATION_ERROR"
    assert sandbox.hubspot.store.all() == []


def test_upsert_by_email_creates_then_updates_and_lower_cases_the_email(hubspot):
    first = hubspot.post(f"{BATCH}/upsert", json={"inputs": [upsert_input("Taro@Example.COM")]})
    assert first.status_code == 200
    created = first.json()["results"][0]
    assert created["new"] is True
    assert created["properties"]["email"] == "taro@example.com"
    assert created["properties"]["hs_object_id"] == created["id"]
    assert created["properties"]["createdate"] == created["properties"]["lastmodifieddate"]

    again = hubspot.post(
        f"{BATCH}/upsert",
        json={"inputs": [upsert_input("taro@example.com", jobtitle="部長", numemployees="100-500")]},
    )
    updated = again.json()["results"][0]
    assert updated["new"] is False
    assert updated["id"] == created["id"]
    read = hubspot.get(f"/crm/v3/objects/contacts/{created['id']}?properties=jobtitle,numemployees")
    assert read.json()["properties"]["jobtitle"] == "部長"
    assert read.json()["properties"]["numemployees"] == "100-500"


def traced(inputs: list[dict]) -> list[dict]:
    return [{**item, "objectWriteTraceId": str(i)} for i, item in enumerate(inputs)]


def test_upsert_with_trace_ids_on_a_unique_property_reports_a_bad_input_as_207(hubspot, sandbox):
    inputs = [
        upsert_input("00Q1", "salesforce_lead_id", email="a@example.com", bridge_stage="interest"),
        upsert_input("00Q2", "salesforce_lead_id", email="b@example.com", bridge_stage="hot"),
    ]
    untraced = hubspot.post(f"{BATCH}/upsert", json={"inputs": inputs})
    assert untraced.status_code == 400  # without trace ids one bad input fails the batch
    assert sandbox.hubspot.store.all() == []

    reply = hubspot.post(f"{BATCH}/upsert", json={"inputs": traced(inputs)})
    assert reply.status_code == 207
    body = reply.json()
    [result] = body["results"]
    assert result["properties"]["email"] == "a@example.com"
    assert result["objectWriteTraceId"] == "0"
    assert body["numErrors"] == 1
    error = body["errors"][0]
    assert error["status"] == "error"
    assert error["category"] == "VALIDATION_ERROR"
    assert error["context"] == {"objectWriteTraceId": ["1"]}
    assert error["errors"][0]["code"] == "INVALID_OPTION"
    assert error["errors"][0]["in"] == "bridge_stage"
    assert len(sandbox.hubspot.store.all()) == 1


def test_a_unique_value_held_by_another_contact_is_a_conflict(hubspot):
    hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}})
    inputs = traced(
        [
            upsert_input("00Q1", "salesforce_lead_id", email="a@example.com"),
            upsert_input("00Q2", "salesforce_lead_id", email="b@example.com"),
            upsert_input("00Q3", "salesforce_lead_id", email="b@example.com"),
        ]
    )
    body = hubspot.post(f"{BATCH}/upsert", json={"inputs": inputs}).json()
    assert [r["objectWriteTraceId"] for r in body["results"]] == ["1"]
    assert [(e["category"], e["context"]["objectWriteTraceId"]) for e in body["errors"]] == [
        ("CONFLICT", ["0"]),
        ("CONFLICT", ["2"]),
    ]


def test_upsert_by_email_fails_the_whole_batch_for_one_bad_input(hubspot, sandbox):
    inputs = traced([upsert_input("a@example.com"), upsert_input("b@example.com", numemployees="lots")])
    reply = hubspot.post(f"{BATCH}/upsert", json={"inputs": inputs})
    assert reply.status_code == 400
    assert sandbox.hubspot.store.all() == []


def test_an_upsert_key_is_validated_like_the_property_it_names(hubspot):
    reply = hubspot.post(f"{BATCH}/upsert", json={"inputs": [upsert_input("not-an-email")]})
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["code"] == "INVALID_EMAIL"


def test_upsert_needs_a_unique_id_property(hubspot):
    reply = hubspot.post(f"{BATCH}/upsert", json={"inputs": [upsert_input("Taro", "firstname")]})
    assert reply.status_code == 400
    assert "hasUniqueValue" in reply.json()["message"]


def test_unknown_property_is_a_validation_error_naming_it(hubspot):
    reply = hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "x@example.com", "shoe_size": "9"}})
    assert reply.status_code == 400
    detail = reply.json()["errors"][0]
    assert detail["code"] == "PROPERTY_DOESNT_EXIST"
    assert detail["in"] == "shoe_size"


def test_creating_a_contact_with_a_known_email_conflicts(hubspot):
    first = hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}})
    assert first.status_code == 201
    again = hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "A@example.com"}})
    assert again.status_code == 409
    body = again.json()
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first.json()['id']}"


def test_batch_read_by_email_returns_207_for_unknown_ids(hubspot):
    hubspot.post(f"{BATCH}/upsert", json={"inputs": [upsert_input("a@example.com", firstname="A")]})
    reply = hubspot.post(
        f"{BATCH}/read",
        json={
            "idProperty": "email",
            "properties": ["firstname"],
            "inputs": [{"id": "a@example.com"}, {"id": "ghost@example.com"}],
        },
    )
    assert reply.status_code == 207
    body = reply.json()
    assert body["results"][0]["properties"]["firstname"] == "A"
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert body["errors"][0]["context"] == {"ids": ["ghost@example.com"]}


def test_batch_update_by_id_updates_and_reports_unknown_ids(hubspot):
    made = hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@example.com"}})
    contact_id = made.json()["id"]
    reply = hubspot.post(
        f"{BATCH}/update",
        json={
            "inputs": [
                {"id": contact_id, "properties": {"bridge_score": "85"}},
                {"id": "999999", "properties": {"bridge_score": "1"}},
            ]
        },
    )
    assert reply.status_code == 207
    assert reply.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    read = hubspot.get(f"/crm/v3/objects/contacts/{contact_id}?properties=bridge_score")
    assert read.json()["properties"]["bridge_score"] == "85"


def test_a_stage_moved_back_is_kept_unless_cleared_and_each_result_says_what_was_kept(hubspot):
    made = hubspot.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@example.com",
                                                                          "lifecyclestage": "opportunity"}})
    contact_id = made.json()["id"]

    def update(**properties) -> dict:
        reply = hubspot.post(f"{BATCH}/update", json={"inputs": [{"id": contact_id, "properties": properties}]})
        assert reply.status_code == 200  # a move back is answered 2xx all the same
        return reply.json()["results"][0]["properties"]

    kept = update(lifecyclestage="lead", bridge_score="10")
    assert (kept["lifecyclestage"], kept["bridge_score"]) == ("opportunity", "10")  # kept, and the answer says so
    assert update(lifecyclestage="")["lifecyclestage"] is None
    assert update(lifecyclestage="lead")["lifecyclestage"] == "lead"  # cleared first: set


def test_search_filters_on_lastmodifieddate_and_pages_with_after(hubspot, control, clock):
    control.post("/hubspot/contacts", json={"records": [{"email": "old@example.com"}]})
    clock.advance(minutes=5)
    since = int(clock.now.timestamp() * 1000)
    control.post("/hubspot/contacts", json={"records": [{"email": f"n{i}@example.com"} for i in range(5)]})
    body = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}]}],
        "sorts": [{"propertyName": "email", "direction": "DESCENDING"}],
        "properties": ["email"],
        "limit": 2,
    }
    seen = []
    after = None
    while True:
        page = hubspot.post("/crm/v3/objects/contacts/search", json={**body, "after": after}).json()
        assert page["total"] == 5
        seen += [r["properties"]["email"] for r in page["results"]]
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            break
    assert seen == [f"n{i}@example.com" for i in reversed(range(5))]


def test_search_refuses_pages_over_200_and_paging_past_10000(hubspot):
    url = "/crm/v3/objects/contacts/search"
    assert hubspot.post(url, json={"limit": 201}).status_code == 400
    assert hubspot.post(url, json={"limit": 200, "after": "9800"}).status_code == 200
    past = hubspot.post(url, json={"limit": 200, "after": "10000"})
    assert past.status_code == 400
    assert past.json()["category"] == "VALIDATION_ERROR"


def test_the_ten_second_limit_answers_429_with_rate_limit_headers(hubspot, control, clock):
    control.patch("/config", json={"hubspot": {"rate_limit": 3}})
    url = "/crm/v3/properties/contacts"
    replies = [hubspot.get(url) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert replies[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert replies[0].headers["X-HubSpot-RateLimit-Remaining"] == "2"
    assert replies[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    body = replies[3].json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    clock.advance(seconds=10)
    assert hubspot.get(url).status_code == 200


def test_the_daily_limit_answers_429_with_policy_daily(hubspot, control):
    control.patch("/config", json={"hubspot": {"daily_limit": 1}})
    first = hubspot.get("/crm/v3/properties/contacts")
    assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    second = hubspot.get("/crm/v3/properties/contacts")
    assert second.status_code == 429
    assert second.json()["policyName"] == "DAILY"


def test_search_has_its_own_per_second_limit(hubspot, control, clock):
    control.patch("/config", json={"hubspot": {"search_rate_limit": 1, "rate_limit": 1}})
    assert hubspot.post("/crm/v3/objects/contacts/search", json={}).status_code == 200
    assert hubspot.get("/crm/v3/properties/contacts").status_code == 200  # separate bucket
    limited = hubspot.post("/crm/v3/objects/contacts/search", json={})
    assert limited.status_code == 429
    assert limited.json()["policyName"] == "SECONDLY"
    clock.advance(seconds=1)
    assert hubspot.post("/crm/v3/objects/contacts/search", json={}).status_code == 200


def test_properties_include_the_bridge_properties_and_enumeration_options(hubspot):
    properties = {p["name"]: p for p in hubspot.get("/crm/v3/properties/contacts").json()["results"]}
    assert {"email", "industry", "lifecyclestage", "hs_lead_status", "hs_object_id"} <= set(properties)
    assert properties["industry"]["type"] == "string"
    assert [o["value"] for o in properties["numemployees"]["options"]] == [
        "1-5",
        "5-25",
        "25-50",
        "50-100",
        "100-500",
        "500-1000",
        "1000+",
    ]
    assert properties["salesforce_lead_id"]["hasUniqueValue"] is True
    assert properties["bridge_score"]["type"] == "number"
    one = hubspot.get("/crm/v3/properties/contacts/lifecyclestage").json()
    assert "marketingqualifiedlead" in [o["value"] for o in one["options"]]
