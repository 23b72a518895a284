"""HubSpot API connector: the contract, plus limits, OAuth refresh, 207s and search windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, Paused, RateLimited
from connectors.base import WebhookRequest
from connectors.hubspot import HubSpotConnector, sign_v3
from connectors.testing import ConnectorContract, RetriableRecordsContract, script
from tests.connectors.fakes import hubspot_search
from tests.helpers import hubspot_event

BASE = "https://api.hubapi.com"
UPSERT = f"{BASE}/crm/v3/objects/contacts/batch/upsert"
TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
ENV = {"HUBSPOT_ACCESS_TOKEN": TOKEN}
APP_SECRET = "app-client-secret-0123456789"
WEBHOOK_URL = "https://bridge.example.co.jp/webhooks/hubspot"
OAUTH_ENV = {
    "HUBSPOT_CLIENT_ID": "client-id-1",
    "HUBSPOT_CLIENT_SECRET": "client-secret-0123456789",
    "HUBSPOT_REFRESH_TOKEN": "refresh-0123456789abcdef",
}


def contact(index: int, properties: dict, new: bool = True, trace: str | None = None) -> dict:
    result = {
        "id": str(5000 + index),
        "properties": {**properties, "hs_object_id": str(5000 + index)},
        "new": new,
        "archived": False,
        "createdAt": "2026-11-20T03:00:00Z",
        "updatedAt": "2026-11-20T03:00:00Z",
    }
    if trace is not None:
        result["objectWriteTraceId"] = trace
    return result


def batch(results: list, errors: list | None = None) -> dict:
    body = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-11-20T03:00:00Z",
        "completedAt": "2026-11-20T03:00:01Z",
    }
    if errors:
        body.update(errors=errors, numErrors=len(errors))
    return body


def input_error(trace: str, category: str, message: str, **details) -> dict:
    """One entry of a batch reply's errors[], tied to its input by the trace id."""
    return {"status": "error", "category": category, "message": message,
            "context": {"objectWriteTraceId": [trace]}, **details}


def invalid_email(trace: str) -> dict:
    detail = {"message": "Email address lead1@ is invalid", "code": "INVALID_EMAIL", "in": "email"}
    return input_error(trace, "VALIDATION_ERROR", "Property values were not valid", errors=[detail])


def internal_error(trace: str) -> dict:
    return input_error(trace, "INTERNAL_ERROR", "try again")


def signed(events: list[dict], now: datetime) -> WebhookRequest:
    """A delivery as HubSpot sends it: a JSON array signed with signature v3 at `now`."""
    body = json.dumps(events).encode()
    timestamp = str(int(now.timestamp() * 1000))
    headers = {
        "X-HubSpot-Signature-v3": sign_v3(APP_SECRET, "POST", WEBHOOK_URL, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    return WebhookRequest("POST", WEBHOOK_URL, headers, {}, body)


class TestHubSpotContract(ConnectorContract, RetriableRecordsContract):
    connector_class = HubSpotConnector
    settings = {**ENV, "HUBSPOT_CLIENT_SECRET": APP_SECRET}
    secret = TOKEN
    auth_setting = "HUBSPOT_ACCESS_TOKEN"
    object = "contacts"
    key_field = "salesforce_lead_id"
    batch_size = 100
    upsert_method = "POST"
    upsert_url = UPSERT
    upsert_endpoint = "POST /crm/v3/objects/contacts/batch/upsert"
    throttled = (
        429,
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c-1",
            "policyName": "TEN_SECONDLY_ROLLING",
        },
    )
    rejection = (
        400,
        {
            "status": "error",
            "message": "Property values were not valid",
            "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
            "category": "VALIDATION_ERROR",
            "errors": [
                {
                    "message": 'Property "favourite_colour" does not exist',
                    "code": "PROPERTY_DOESNT_EXIST",
                    "in": "favourite_colour",
                }
            ],
        },
    )
    rejection_fields = ("favourite_colour",)
    partial_fields = ("email",)
    change = ("contacts", "123", "property")
    scan_page, scan_endpoints = 200, ("POST /crm/v3/objects/contacts/search",)

    def upsert_reply(self, body):
        return 200, batch(
            [
                contact(i, x["properties"], trace=x["objectWriteTraceId"])
                for i, x in enumerate(body["inputs"])
            ]
        )

    def partial_reply(self, body, bad_key):
        good = [x for x in body["inputs"] if x["id"] != bad_key]
        bad = next(x for x in body["inputs"] if x["id"] == bad_key)
        # Results are not promised in input order: the trace ids tie them back.
        results = [
            contact(i, x["properties"], trace=x["objectWriteTraceId"]) for i, x in enumerate(good)
        ]
        return 207, batch(results[::-1], [invalid_email(bad["objectWriteTraceId"])])

    def retriable_reply(self, body, bad_key):
        status, reply = self.partial_reply(body, bad_key)
        reply["errors"] = [internal_error(e["context"]["objectWriteTraceId"][0]) for e in reply["errors"]]
        return status, reply

    def reject_credentials(self, rsps):
        rsps.post(
            f"{BASE}/crm/v3/objects/contacts/search",
            status=401,
            json={
                "status": "error",
                "category": "INVALID_AUTHENTICATION",
                "correlationId": "c-2",
                "message": "Authentication credentials not found.",
            },
        )

    def serve_scan(self, rsps, ids):
        rsps.add_callback("POST", f"{BASE}/crm/v3/objects/contacts/search", callback=hubspot_search(ids))

    def record_id(self, record):
        return record["hs_object_id"]

    def delivery(self, now):
        return signed([hubspot_event(1, object_id=123), hubspot_event(2, object_id=456)], now)


@pytest.fixture
def hubspot(clock, rsps) -> HubSpotConnector:
    return HubSpotConnector.from_env(EnvReader(ENV), clock=clock)


def test_daily_limit_pauses_until_midnight_in_the_account_time_zone(hubspot, rsps, clock):
    script(
        rsps,
        "POST",
        UPSERT,
        (
            429,
            {
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "DAILY",
                "correlationId": "c",
            },
        ),
    )
    records = [{"salesforce_lead_id": "K1"}]
    with pytest.raises(Paused) as caught:
        hubspot.upsert("contacts", "salesforce_lead_id", records)
    # 03:00 UTC is 12:00 in Tokyo: the counter resets at 00:00 JST, 15:00 UTC.
    assert caught.value.until == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert len(rsps.calls) == 1
    with pytest.raises(Paused):
        hubspot.upsert("contacts", "salesforce_lead_id", records)
    assert len(rsps.calls) == 1  # no calls burnt while paused

    clock.now = datetime(2026, 11, 20, 15, 0, 1, tzinfo=UTC)
    rsps.replace("POST", UPSERT, json=batch([contact(0, {}, trace="0")]))
    assert hubspot.upsert("contacts", "salesforce_lead_id", records)[0].outcome == "created"


def test_rolling_limit_without_retry_after_waits_for_the_window(hubspot, rsps, clock):
    script(
        rsps,
        "POST",
        UPSERT,
        (429, {"status": "error", "message": "slow down", "policyName": "TEN_SECONDLY_ROLLING"}),
        lambda body: (200, batch([contact(0, {}, trace="0")])),
        headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
    )
    records = [{"salesforce_lead_id": "K1"}]
    with pytest.raises(RateLimited) as caught:
        hubspot.upsert("contacts", "salesforce_lead_id", records)
    assert caught.value.retry_after == 10.0 and caught.value.code == "TEN_SECONDLY_ROLLING"
    clock.advance(seconds=10)
    assert hubspot.upsert("contacts", "salesforce_lead_id", records)[0].outcome == "created"
    assert len(rsps.calls) == 2


def test_207_tells_retriable_and_permanent_failures_apart_in_one_call(hubspot, rsps):
    def reply(body):
        ok = [contact(0, body["inputs"][0]["properties"], trace="0")]
        return 207, batch(ok, [internal_error("1"), invalid_email("2")])

    script(rsps, "POST", UPSERT, reply)
    records = [{"salesforce_lead_id": f"K{i}", "email": f"x{i}@example.com"} for i in range(3)]
    results = hubspot.upsert("contacts", "salesforce_lead_id", records)
    assert [r.outcome for r in results] == ["created", "failed", "failed"]
    assert (results[1].category, results[1].code) == ("retriable", "INTERNAL_ERROR")
    assert (results[2].category, results[2].code) == ("permanent", "VALIDATION_ERROR")
    assert len(rsps.calls) == 1


def test_input_without_result_or_error_is_retriable_not_lost(hubspot, rsps):
    script(rsps, "POST", UPSERT, (200, batch([])))
    [result] = hubspot.upsert("contacts", "salesforce_lead_id", [{"salesforce_lead_id": "K1"}])
    assert result.outcome == "failed" and result.category == "retriable"
    assert len(rsps.calls) == 1  # handed back for the caller to reschedule


def test_keying_on_the_record_id_uses_batch_update(hubspot, rsps):
    url = f"{BASE}/crm/v3/objects/contacts/batch/update"
    updated = {"id": "77", "properties": {"hs_object_id": "77", "lifecyclestage": "lead"}}
    script(rsps, "POST", url, (200, batch([updated])))
    [result] = hubspot.upsert(
        "contacts", "hs_object_id", [{"hs_object_id": "77", "lifecyclestage": "lead"}]
    )
    assert result.outcome == "updated" and result.id == "77"
    sent = json.loads(rsps.calls[0].request.body)["inputs"]
    assert sent == [{"id": "77", "properties": {"lifecyclestage": "lead"}}]


def token_endpoint(rsps, *tokens: str) -> None:
    """HubSpot's token endpoint, handing out `tokens` in turn, each valid for 30 minutes."""
    handed = iter(tokens)
    reply = {"refresh_token": "refresh-0123456789abcdef", "expires_in": 1800, "token_type": "bearer",
             "token_use": "access_token"}
    rsps.add_callback("POST", f"{BASE}/oauth/v1/token",
                      callback=lambda request: (200, {}, json.dumps({**reply, "access_token": next(handed)})))


def test_oauth_token_is_refreshed_before_it_expires(clock, rsps):
    hubspot = HubSpotConnector.from_env(EnvReader(OAUTH_ENV), clock=clock)
    token_endpoint(rsps, "access-1", "access-2")
    rsps.get(f"{BASE}/crm/v3/properties/contacts", json={"results": []})

    hubspot.describe("contacts")
    clock.advance(seconds=1400)  # 400 s left: still good
    hubspot.describe("contacts")
    clock.advance(seconds=200)  # 200 s left: inside the refresh margin
    hubspot.describe("contacts")

    token_calls = [c for c in rsps.calls if c.request.url.endswith("/oauth/v1/token")]
    assert len(token_calls) == 2
    form = parse_qs(token_calls[0].request.body)
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-id-1"],
        "client_secret": ["client-secret-0123456789"],
        "refresh_token": ["refresh-0123456789abcdef"],
    }
    bearers = [
        c.request.headers["Authorization"] for c in rsps.calls if "properties" in c.request.url
    ]
    assert bearers == ["Bearer access-1", "Bearer access-1", "Bearer access-2"]


def test_a_token_that_expired_early_is_refreshed_once_and_the_call_sent_again(clock, rsps):
    hubspot = HubSpotConnector.from_env(EnvReader(OAUTH_ENV), clock=clock)
    token_endpoint(rsps, "access-1", "access-2")
    expired = {
        "status": "error",
        "category": "EXPIRED_AUTHENTICATION",
        "correlationId": "c",
        "message": "The OAuth token used to make this call expired 2 second(s) ago.",
    }
    script(rsps, "GET", f"{BASE}/crm/v3/properties/contacts", (401, expired), (200, {"results": []}))
    assert hubspot.describe("contacts") == {}
    bearers = [c.request.headers.get("Authorization") for c in rsps.calls if "properties" in c.request.url]
    assert bearers == ["Bearer access-1", "Bearer access-2"]
    assert len(rsps.calls) == 4  # token, call, token, call: once, no loop


def test_refused_refresh_token_names_the_setting(clock, rsps):
    hubspot = HubSpotConnector.from_env(EnvReader(OAUTH_ENV), clock=clock)
    rsps.post(
        f"{BASE}/oauth/v1/token",
        status=400,
        json={
            "status": "BAD_REFRESH_TOKEN",
            "message": "missing or unknown refresh token",
            "correlationId": "c",
        },
    )
    with pytest.raises(AuthError) as caught:
        hubspot.check()
    assert caught.value.setting == "HUBSPOT_REFRESH_TOKEN"
    assert "refresh-0123456789abcdef" not in str(caught.value)
    assert len(rsps.calls) == 1


def test_request_rate_stays_under_ninety_percent_of_the_tier(clock, rsps):
    hubspot = HubSpotConnector.from_env(
        EnvReader({**ENV, "HUBSPOT_TIER": "professional"}), clock=clock
    )
    rsps.get(f"{BASE}/crm/v3/properties/contacts", json={"results": []})
    for _ in range(171):  # 90 % of 190 go at once
        hubspot.describe("contacts")
    clock.advance(seconds=4)
    with pytest.raises(RateLimited) as caught:
        hubspot.describe("contacts")
    assert caught.value.retry_after == pytest.approx(6.0)  # when the first call leaves the 10-second window
    assert len(rsps.calls) == 171  # refused without calling
    clock.advance(seconds=6)
    hubspot.describe("contacts")
    assert len(rsps.calls) == 172


def test_search_pages_with_after_and_opens_a_new_window_at_10000(hubspot, rsps, clock):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    stamp = int(start.timestamp() * 1000)

    def page(first: int, count: int, moment: int, after: str | None) -> dict:
        results = [
            {"id": str(n), "properties": {"hs_object_id": str(n), "lastmodifieddate": moment}}
            for n in range(first, first + count)
        ]
        return {
            "total": 20000,
            "results": results,
            **({"paging": {"next": {"after": after}}} if after else {}),
        }

    bodies = []

    def search(body):
        bodies.append(body)
        if len(bodies) == 1:
            return 200, page(1, 200, stamp, "9800")
        if len(bodies) == 2:  # the page ending at result 10,000; two records share the last stamp
            return 200, page(201, 2, stamp + 5, "10000")
        return 200, page(202, 2, stamp + 5, None)  # the new window repeats record 202

    script(rsps, "POST", f"{BASE}/crm/v3/objects/contacts/search", search)
    ids = [r["hs_object_id"] for r in hubspot.changed_since("contacts", start, ["email"])]
    assert ids == [str(n) for n in range(1, 204)]
    assert bodies[0]["filterGroups"][0]["filters"][0] == {
        "propertyName": "lastmodifieddate",
        "operator": "GTE",
        "value": str(stamp),
    }
    assert bodies[0]["limit"] == 200 and "after" not in bodies[0]
    assert bodies[1]["after"] == "9800"
    assert (
        bodies[2]["filterGroups"][0]["filters"][0]["value"] == str(stamp + 5)
        and "after" not in bodies[2]
    )  # three searches fit in the 4-per-second limit


def test_search_has_its_own_four_per_second_limit(hubspot, rsps, clock):
    search = f"{BASE}/crm/v3/objects/contacts/search"
    script(rsps, "POST", search, (200, {"total": 0, "results": []}))
    rsps.get(f"{BASE}/crm/v3/properties/contacts", json={"results": []})
    since = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(4):
        list(hubspot.changed_since("contacts", since, []))
    with pytest.raises(RateLimited) as caught:
        list(hubspot.changed_since("contacts", since, []))
    assert caught.value.retry_after == 1.0
    hubspot.describe("contacts")  # the ten-second bucket is another pool: still open
    clock.advance(seconds=1)
    list(hubspot.changed_since("contacts", since, []))
    assert len([c for c in rsps.calls if c.request.url == search]) == 5


def test_batch_read_by_unique_property_maps_back_to_the_ids_asked(hubspot, rsps):
    rsps.post(
        f"{BASE}/crm/v3/objects/contacts/batch/read",
        status=207,
        json=batch(
            [{"id": "5001", "properties": {"email": "taro@example.co.jp", "hs_object_id": "5001"}}],
            [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some CONTACT objects",
                    "context": {"ids": ["nobody@example.co.jp"]},
                }
            ],
        ),
    )
    found = hubspot.read(
        "contacts", ["Taro@example.co.jp", "nobody@example.co.jp"], ["firstname"], id_field="email"
    )
    assert found == {"Taro@example.co.jp": {"email": "taro@example.co.jp", "hs_object_id": "5001"}}
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["idProperty"] == "email" and sent["properties"] == ["email", "firstname"]


def test_describe_maps_property_types(hubspot, rsps):
    rsps.get(
        f"{BASE}/crm/v3/properties/contacts",
        json={
            "results": [
                {
                    "name": "lifecyclestage",
                    "label": "Lifecycle Stage",
                    "type": "enumeration",
                    "fieldType": "radio",
                    "options": [
                        {"label": "Lead", "value": "lead"},
                        {"label": "MQL", "value": "marketingqualifiedlead"},
                    ],
                },
                {
                    "name": "salesforce_lead_id",
                    "label": "SF id",
                    "type": "string",
                    "fieldType": "text",
                    "hasUniqueValue": True,
                },
                {
                    "name": "hs_email_optout",
                    "label": "Opted out",
                    "type": "enumeration",
                    "fieldType": "booleancheckbox",
                },
                {"name": "email", "label": "Email", "type": "string", "fieldType": "text"},
            ]
        },
    )
    fields = hubspot.describe("contacts")
    assert fields["lifecyclestage"].options == ("lead", "marketingqualifiedlead")
    assert fields["salesforce_lead_id"].unique and fields["salesforce_lead_id"].type == "string"
    assert fields["hs_email_optout"].type == "boolean"
    assert fields["email"].type == "email" and fields["email"].unique


def test_settings_problems_are_all_reported():
    read = EnvReader(
        {
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "HUBSPOT_REFRESH_TOKEN": "r",
            "HUBSPOT_TIER": "gold",
            "HUBSPOT_TIMEZONE": "Mars/Olympus",
        }
    )
    HubSpotConnector.from_env(read)
    assert len(read.problems) == 3
    read = EnvReader({"HUBSPOT_CLIENT_ID": "c"})
    HubSpotConnector.from_env(read)
    assert read.problems == [
        "HubSpot OAuth needs HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and "
        "HUBSPOT_REFRESH_TOKEN; missing: HUBSPOT_CLIENT_SECRET, HUBSPOT_REFRESH_TOKEN"
    ]


def test_paused_error_says_until_when(hubspot):
    until = datetime(2026, 11, 20, 15, tzinfo=UTC)
    error = hubspot.pause(until, "daily API limit reached")
    assert "paused until 2026-11-20T15:00:00+00:00" in str(error)


def test_a_client_id_beside_a_private_app_token_is_no_problem():
    read = EnvReader({**ENV, "HUBSPOT_CLIENT_ID": "c", "HUBSPOT_CLIENT_SECRET": "s"})
    hubspot = HubSpotConnector.from_env(read)
    assert read.problems == [] and hubspot.api_problem() is None
