"""Salesforce API connector: the contract, plus OAuth flows, re-authentication, API usage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import jwt
import pytest

from bridge.kernel.env import EnvReader
from bridge.kernel.errors import AuthError, Paused, Transient
from connectors.base import WebhookRequest
from connectors.salesforce import SalesforceConnector
from connectors.testing import ConnectorContract, RetriableRecordsContract, script
from tests.connectors.fakes import salesforce_query
from tests.helpers import outbound_message

LOGIN = "https://login.salesforce.com"
INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v62.0"
UPSERT = f"{DATA}/composite/sobjects/Lead/HubSpot_Contact_Id__c"
CLIENT_ID = "3MVG9-consumer-key"
SECRET = "consumer-secret-0123456789ABCDEF"
SESSION = "00D5g000004Z1xY!AQ-session-1"
ORG_ID = "00D5g000004Z1xYEAS"
WEBHOOK_TOKEN = "outbound-token-0123456789abcdef"


def token_reply(access_token: str = SESSION) -> dict:
    return {
        "access_token": access_token,
        "instance_url": INSTANCE,
        "token_type": "Bearer",
        "id": f"{LOGIN}/id/00D5g000004Z1xYEAS/0055g00000AbCdEAAV",
        "issued_at": "1763607600000",
        "signature": "c2lnbmF0dXJl",
        "scope": "api",
    }


def created(body) -> tuple[int, list]:
    return 200, [
        {"id": f"00Q5g0000{i:06d}AAA", "success": True, "errors": [], "created": True}
        for i, _ in enumerate(body["records"])
    ]


@pytest.fixture
def jwt_env(private_key_file) -> dict[str, str]:
    return {
        "SALESFORCE_CLIENT_ID": CLIENT_ID,
        "SALESFORCE_USERNAME": "bridge@acme.example",
        "SALESFORCE_PRIVATE_KEY_FILE": str(private_key_file),
    }


def failed_with(item: dict, code: str, message: str, fields: list[str]) -> None:
    """Turn a collection result item into a failure with `code`, as Salesforce reports one."""
    item.update(id=None, success=False, created=False,
                errors=[{"statusCode": code, "message": message, "fields": fields}])


class TestSalesforceContract(ConnectorContract, RetriableRecordsContract):
    connector_class = SalesforceConnector
    settings = {
        "SALESFORCE_CLIENT_ID": CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": SECRET,
        "SALESFORCE_LOGIN_URL": INSTANCE,
        "SALESFORCE_ORG_ID": ORG_ID,
        "SALESFORCE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
    }
    secret = SECRET
    auth_setting = "SALESFORCE_CLIENT_ID"
    object = "Lead"
    key_field = "HubSpot_Contact_Id__c"
    batch_size = 200
    upsert_method = "PATCH"
    upsert_url = UPSERT
    upsert_endpoint = "PATCH composite/sobjects/Lead"
    throttled = (503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server is busy, try later"}])
    throttled_error = Transient  # Salesforce's REST API says "busy" with a 503, not a 429
    rejection = (
        400,
        [
            {
                "message": "No such column 'Favourite_Colour__c' on sobject of type Lead",
                "errorCode": "INVALID_FIELD",
            }
        ],
    )
    rejection_fields = ("Favourite_Colour__c",)
    partial_fields = ("Company",)
    change = ("Lead", "00Q5g000000000000", "updated")
    scan_page, scan_endpoints = 2000, ("GET query", "GET query (next page)")

    def login(self, rsps):
        rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())

    def upsert_reply(self, body):
        return created(body)

    def partial_reply(self, body, bad_key):
        status, items = created(body)
        for record, item in zip(body["records"], items, strict=True):
            if record["HubSpot_Contact_Id__c"] == bad_key:
                failed_with(item, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Company]", ["Company"])
        return status, items

    def retriable_reply(self, body, bad_key):
        status, items = created(body)
        for record, item in zip(body["records"], items, strict=True):
            if record["HubSpot_Contact_Id__c"] == bad_key:
                failed_with(item, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", [])
        return status, items

    def scan_ids(self, count):
        return [f"00Q5g{i:010d}AAA" for i in range(count)]

    def serve_scan(self, rsps, ids):
        rsps.add_callback("GET", *salesforce_query(DATA, ids))

    def record_id(self, record):
        return record["Id"]

    def delivery(self, now):
        body = outbound_message(("04l5g000001AAAA", "04l5g000001AAAB"), org_id=ORG_ID)
        return WebhookRequest(
            "POST",
            f"https://bridge.example.co.jp/webhooks/salesforce?token={WEBHOOK_TOKEN}",
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            {"token": WEBHOOK_TOKEN},
            body,
        )

    def reject_credentials(self, rsps):
        rsps.post(
            f"{INSTANCE}/services/oauth2/token",
            status=400,
            json={"error": "invalid_client_id", "error_description": "client identifier invalid"},
        )


def test_jwt_assertion_carries_the_documented_claims(jwt_env, rsa_key, clock, rsps):
    salesforce = SalesforceConnector.from_env(EnvReader(jwt_env), clock=clock)
    rsps.post(f"{LOGIN}/services/oauth2/token", json=token_reply())
    rsps.get(f"{DATA}/query", json={"totalSize": 0, "done": True, "records": []})
    salesforce.check()

    form = parse_qs(rsps.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(
        form["assertion"][0],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience=LOGIN,
        options={"verify_exp": False},
    )
    assert claims["iss"] == CLIENT_ID and claims["sub"] == "bridge@acme.example"
    assert 0 < claims["exp"] - clock().timestamp() <= 180
    assert jwt.get_unverified_header(form["assertion"][0])["alg"] == "RS256"
    # REST calls go to the instance the token response names.
    assert rsps.calls[1].request.url.startswith(f"{DATA}/query?q=SELECT+Id+FROM+Lead+LIMIT+1")
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {SESSION}"


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
    ],
)
def test_jwt_audience_defaults_from_the_login_url(jwt_env, login_url, audience):
    salesforce = SalesforceConnector.from_env(
        EnvReader({**jwt_env, "SALESFORCE_LOGIN_URL": login_url})
    )
    assert salesforce.api.jwt_audience == audience
    assert salesforce.api.login_url == login_url


def test_expired_session_logs_in_once_more_and_replays(jwt_env, clock, rsps):
    salesforce = SalesforceConnector.from_env(EnvReader(jwt_env), clock=clock)
    script(
        rsps,
        "POST",
        f"{LOGIN}/services/oauth2/token",
        (200, token_reply("session-1")),
        (200, token_reply("session-2")),
    )
    expired = (401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    script(rsps, "GET", f"{DATA}/sobjects/Lead/describe", expired, (200, {"fields": []}))
    assert salesforce.describe("Lead") == {}
    logins = [c for c in rsps.calls if c.request.url.endswith("/oauth2/token")]
    assert len(logins) == 2
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer session-2"


def test_a_second_401_after_logging_in_again_is_an_auth_error(jwt_env, clock, rsps):
    salesforce = SalesforceConnector.from_env(EnvReader(jwt_env), clock=clock)
    rsps.post(f"{LOGIN}/services/oauth2/token", json=token_reply())
    rsps.get(
        f"{DATA}/sobjects/Lead/describe",
        status=401,
        json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    with pytest.raises(AuthError):
        salesforce.describe("Lead")
    assert len(rsps.calls) == 4  # login, call, login, call: no loop


def test_unapproved_user_gets_a_fix_naming_the_setting(jwt_env, clock, rsps):
    salesforce = SalesforceConnector.from_env(EnvReader(jwt_env), clock=clock)
    rsps.post(
        f"{LOGIN}/services/oauth2/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
    )
    with pytest.raises(AuthError) as caught:
        salesforce.check()
    assert caught.value.setting == "SALESFORCE_USERNAME"
    assert "pre-authorize" in str(caught.value)


def test_client_credentials_grant(clock, rsps):
    env = TestSalesforceContract.settings
    salesforce = SalesforceConnector.from_env(EnvReader(env), clock=clock)
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    rsps.get(f"{DATA}/query", json={"totalSize": 0, "done": True, "records": []})
    assert salesforce.check().startswith("client credentials login")
    assert parse_qs(rsps.calls[0].request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
    }


def test_usage_past_the_pause_share_stops_calls(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    rsps.get(
        f"{DATA}/sobjects/Lead/describe",
        json={"fields": []},
        headers={"Sforce-Limit-Info": "api-usage=12001/15000"},
    )
    salesforce.describe("Lead")
    assert salesforce.api_usage == (12001, 15000)
    with pytest.raises(Paused) as caught:
        salesforce.describe("Lead")
    assert caught.value.until == datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    assert len(rsps.calls) == 2


def test_request_limit_exceeded_pauses_instead_of_retrying(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    rsps.patch(
        UPSERT,
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    with pytest.raises(Paused):
        salesforce.upsert("Lead", "HubSpot_Contact_Id__c", [{"HubSpot_Contact_Id__c": "1"}])
    assert len(rsps.calls) == 2


def test_collections_upsert_sends_all_or_none_false_and_each_records_type(clock, rsps):
    salesforce = SalesforceConnector.from_env(EnvReader(TestSalesforceContract.settings), clock=clock)
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    script(rsps, "PATCH", UPSERT, created)
    records = [{"HubSpot_Contact_Id__c": str(i), "LastName": "Yamada", "Company": "ACME"} for i in range(3)]
    assert [r.outcome for r in salesforce.upsert("Lead", "HubSpot_Contact_Id__c", records)] == ["created"] * 3
    body = json.loads(rsps.calls[1].request.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {"attributes": {"type": "Lead"}, **records[0]}


def test_auto_assign_header_follows_the_setting(clock, rsps):
    env = {**TestSalesforceContract.settings, "SALESFORCE_AUTO_ASSIGN": "false"}
    salesforce = SalesforceConnector.from_env(EnvReader(env), clock=clock)
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    script(rsps, "PATCH", UPSERT, created)
    salesforce.upsert("Lead", "HubSpot_Contact_Id__c", [{"HubSpot_Contact_Id__c": "1"}])
    assert rsps.calls[1].request.headers["Sforce-Auto-Assign"] == "FALSE"


def test_changed_since_follows_next_records_url(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    lead = {
        "attributes": {"type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q1"},
        "Id": "00Q1",
        "Email": "a@example.co.jp",
        "SystemModstamp": "2026-11-20T01:00:00.000+0000",
    }
    rsps.get(
        f"{DATA}/query",
        json={
            "totalSize": 3,
            "done": False,
            "records": [lead, {**lead, "Id": "00Q2"}],
            "nextRecordsUrl": "/services/data/v62.0/query/01gD0000002HU6KIAW-2000",
        },
    )
    rsps.get(
        f"{DATA}/query/01gD0000002HU6KIAW-2000",
        json={"totalSize": 3, "done": True, "records": [{**lead, "Id": "00Q3"}]},
    )
    records = list(
        salesforce.changed_since("Lead", datetime(2026, 11, 1, 9, 0, tzinfo=UTC), ["Email"])
    )
    assert [r["Id"] for r in records] == ["00Q1", "00Q2", "00Q3"]
    assert "attributes" not in records[0]
    soql = parse_qs(rsps.calls[1].request.url.split("?", 1)[1])["q"][0]
    assert soql == (
        "SELECT Email, Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2026-11-01T09:00:00Z "
        "ORDER BY SystemModstamp"
    )


def test_read_quotes_values_and_matches_15_character_ids(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    rsps.get(
        f"{DATA}/query",
        json={
            "totalSize": 1,
            "done": True,
            "records": [{"Id": "00Q5g00000AbCdEFGH", "Email": "o'brien@example.com"}],
        },
    )
    found = salesforce.read("Lead", ["00Q5g00000AbCdE", "00Q5g00000ZzZzZ"], ["Email"])
    assert list(found) == ["00Q5g00000AbCdE"]
    soql = parse_qs(rsps.calls[1].request.url.split("?", 1)[1])["q"][0]
    assert soql == "SELECT Email, Id FROM Lead WHERE Id IN ('00Q5g00000AbCdE', '00Q5g00000ZzZzZ')"
    rsps.calls.reset()
    salesforce.read("Lead", ["o'brien@example.com"], ["Email"], id_field="Email")
    assert (
        "WHERE Email IN ('o\\'brien@example.com')"
        in parse_qs(rsps.calls[0].request.url.split("?", 1)[1])["q"][0]
    )


def test_describe_marks_required_and_picklists(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    rsps.post(f"{INSTANCE}/services/oauth2/token", json=token_reply())
    rsps.get(
        f"{DATA}/sobjects/Lead/describe",
        json={
            "name": "Lead",
            "fields": [
                {
                    "name": "LastName",
                    "label": "Last Name",
                    "type": "string",
                    "nillable": False,
                    "createable": True,
                    "defaultedOnCreate": False,
                    "unique": False,
                    "picklistValues": [],
                },
                {
                    "name": "Status",
                    "label": "Status",
                    "type": "picklist",
                    "nillable": False,
                    "createable": True,
                    "defaultedOnCreate": True,
                    "unique": False,
                    "picklistValues": [
                        {"value": "Open - Not Contacted", "active": True},
                        {"value": "Old", "active": False},
                    ],
                },
                {
                    "name": "HubSpot_Contact_Id__c",
                    "label": "HubSpot id",
                    "type": "string",
                    "nillable": True,
                    "createable": True,
                    "defaultedOnCreate": False,
                    "unique": True,
                    "externalId": True,
                },
            ],
        },
    )
    fields = salesforce.describe("Lead")
    assert fields["LastName"].required and not fields["Status"].required
    assert fields["Status"].type == "enumeration" and fields["Status"].options == (
        "Open - Not Contacted",
    )
    assert fields["HubSpot_Contact_Id__c"].unique


def test_unsafe_names_never_reach_soql(clock, rsps):
    salesforce = SalesforceConnector.from_env(
        EnvReader(TestSalesforceContract.settings), clock=clock
    )
    with pytest.raises(Exception, match="not Salesforce API names"):
        salesforce.read("Lead WHERE Id != null", ["1"], ["Email"])
    assert len(rsps.calls) == 0


def test_settings_problems_are_all_reported(tmp_path):
    env = {
        "SALESFORCE_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"),
        "SALESFORCE_CLIENT_SECRET": "s",
        "SALESFORCE_API_VERSION": "45.0",
        "SALESFORCE_API_PAUSE_AT": "80",
    }
    read = EnvReader(env)
    SalesforceConnector.from_env(read)
    text = "\n".join(read.problems)
    for fragment in (
        "SALESFORCE_USERNAME must be too",
        "not both",
        "SALESFORCE_CLIENT_ID (the app's consumer key)",
        "My Domain",
        "missing.pem: cannot read it",
        "SALESFORCE_API_VERSION='45.0'",
        "SALESFORCE_API_PAUSE_AT=80.0",
    ):
        assert fragment in text
    assert len(read.problems) == 7


def test_a_username_beside_a_client_secret_is_client_credentials(clock):
    env = {**TestSalesforceContract.settings, "SALESFORCE_USERNAME": "bridge@acme.example"}
    read = EnvReader(env)
    salesforce = SalesforceConnector.from_env(read, clock=clock)
    assert read.problems == [] and salesforce.api.flow == "client credentials"


def test_a_key_that_is_not_a_key_is_reported(tmp_path):
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    read = EnvReader(
        {
            "SALESFORCE_CLIENT_ID": "c",
            "SALESFORCE_USERNAME": "u",
            "SALESFORCE_PRIVATE_KEY_FILE": str(not_a_key),
        }
    )
    SalesforceConnector.from_env(read)
    assert read.problems == [
        f"SALESFORCE_PRIVATE_KEY_FILE={not_a_key} is not an unencrypted PEM private key"
    ]
