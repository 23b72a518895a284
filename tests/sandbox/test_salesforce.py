"""The Salesforce simulator over loopback: OAuth flows, sessions, collection upserts, SOQL paging, limits."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.sandbox.salesforce_schema import LeadSchema
from connectors.sandbox.soql import parse

UPSERT = "/composite/sobjects/Lead/HubSpot_Contact_Id__c"


def lead(key: str, **fields: object) -> dict:
    return {"attributes": {"type": "Lead"}, "HubSpot_Contact_Id__c": key, **fields}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(key: rsa.RSAPrivateKey, claims: dict) -> str:
    header = b64(json.dumps({"alg": "RS256"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token_url(sandbox) -> str:
    return f"{sandbox.salesforce_url}/services/oauth2/token"


def test_rest_without_a_session_gets_invalid_session_id(sandbox):
    reply = requests.get(f"{sandbox.base_url}/services/data/v62.0/limits", timeout=5)
    assert reply.status_code == 401
    assert reply.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_client_credentials_in_a_basic_header_and_a_wrong_secret(sandbox):
    config = sandbox.config.salesforce
    good = requests.post(
        token_url(sandbox),
        data={"grant_type": "client_credentials"},
        auth=(config.client_id, config.client_secret),
        timeout=5,
    )
    assert good.status_code == 200
    body = good.json()
    assert body["instance_url"] == sandbox.base_url
    assert body["token_type"] == "Bearer"
    assert body["id"].endswith(f"/id/{config.org_id}/{config.user_id}")
    assert body["issued_at"].isdigit()
    bad = requests.post(
        token_url(sandbox),
        data={"grant_type": "client_credentials", "client_id": config.client_id, "client_secret": "wrong"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


def test_jwt_bearer_checks_the_signature_and_the_claims(sandbox, key, clock):
    config = sandbox.config.salesforce
    config.public_key_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    claims = {
        "iss": config.client_id,
        "sub": config.username,
        "aud": "https://login.salesforce.com",
        "exp": int(clock.now.timestamp()) + 180,
    }

    def grant(token: str) -> requests.Response:
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": token}
        return requests.post(token_url(sandbox), data=form, timeout=5)

    assert grant(assertion(key, claims)).status_code == 200
    cases = {
        "audience is invalid": {**claims, "aud": "https://example.my.salesforce.com"},
        "expired authorization code": {**claims, "exp": int(clock.now.timestamp()) - 1},
        "user hasn't approved this consumer": {**claims, "sub": "someone@else"},
    }
    for description, wrong in cases.items():
        reply = grant(assertion(key, wrong))
        assert reply.status_code == 400
        assert reply.json() == {"error": "invalid_grant", "error_description": description}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = grant(assertion(other_key, claims))
    assert forged.json()["error_description"] == "invalid assertion"
    unknown_client = grant(assertion(key, {**claims, "iss": "someone"}))
    assert unknown_client.json()["error"] == "invalid_client_id"


def test_expired_sessions_need_a_new_token(salesforce, control):
    assert salesforce.get("/limits").status_code == 200
    control.post("/tokens/expire", json={"system": "salesforce"})
    assert salesforce.get("/limits").json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_more_than_200_records_are_refused(salesforce, sandbox):
    records = [lead(str(i), LastName="L", Company="C") for i in range(201)]
    reply = salesforce.patch(UPSERT, json={"allOrNone": False, "records": records})
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sandbox.salesforce.store.all() == []


def test_upsert_creates_updates_and_reports_errors_per_record(salesforce):
    first = salesforce.patch(
        UPSERT,
        json={
            "records": [
                lead("1001", LastName="山田", Company="ACME"),
                lead("1002", LastName="佐藤"),
            ]
        },
    )
    assert first.status_code == 200
    created, missing = first.json()
    assert created["success"] is True
    assert created["created"] is True
    assert created["id"].startswith("00Q") and len(created["id"]) == 18
    assert missing["success"] is False
    assert missing["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Company]",
            "fields": ["Company"],
        }
    ]
    again = salesforce.patch(UPSERT, json={"records": [lead("1001", Title="部長", NumberOfEmployees=250)]})
    assert again.json() == [{"id": created["id"], "success": True, "errors": [], "created": False}]
    read = salesforce.get(f"/sobjects/Lead/{created['id']}", params={"fields": "Title,NumberOfEmployees"})
    assert read.json()["Title"] == "部長"
    assert read.json()["NumberOfEmployees"] == 250


def test_restricted_picklists_duplicate_keys_and_unknown_fields(salesforce):
    reply = salesforce.patch(
        UPSERT,
        json={
            "records": [
                lead("1", LastName="A", Company="C", Industry="Rocketry"),
                lead("2", LastName="B", Company="C"),
                lead("2", LastName="B", Company="C"),
            ]
        },
    )
    bad_picklist, *duplicates = reply.json()
    assert bad_picklist["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert bad_picklist["errors"][0]["fields"] == ["Industry"]
    assert [d["errors"][0]["statusCode"] for d in duplicates] == ["DUPLICATE_VALUE", "DUPLICATE_VALUE"]
    unknown = salesforce.patch(UPSERT, json={"records": [lead("3", LastName="A", Shoe__c="9")]})
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"


def test_all_or_none_rolls_every_record_back(salesforce, sandbox):
    reply = salesforce.patch(
        UPSERT,
        json={
            "allOrNone": True,
            "records": [
                lead("1", LastName="A", Company="C"),
                lead("2", LastName="B"),
            ],
        },
    )
    rolled_back, failed = reply.json()
    assert rolled_back["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert failed["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sandbox.salesforce.store.all() == []


def test_query_pages_through_next_records_url(salesforce, sandbox, clock):
    for start in range(0, 450, 150):
        records = [lead(str(i), LastName=f"L{i}", Company="C") for i in range(start, start + 150)]
        salesforce.patch(UPSERT, json={"records": records})
        clock.advance(seconds=1)
    soql = (
        "SELECT Id, HubSpot_Contact_Id__c, SystemModstamp FROM Lead "
        "WHERE SystemModstamp > 2026-01-05T00:00:00Z ORDER BY SystemModstamp, Id"
    )
    page = salesforce.get("/query", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=200"})
    body = page.json()
    assert body["totalSize"] == 300  # the first 150 were written at exactly 00:00:00
    keys = [r["HubSpot_Contact_Id__c"] for r in body["records"]]
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
        body = requests.get(
            sandbox.base_url + body["nextRecordsUrl"], headers=salesforce.session.headers, timeout=5
        ).json()
        keys += [r["HubSpot_Contact_Id__c"] for r in body["records"]]
    assert len(keys) == 300
    assert set(keys) == {str(i) for i in range(150, 450)}
    first = page.json()["records"][0]
    assert first["attributes"]["type"] == "Lead"
    assert first["SystemModstamp"] == "2026-01-05T00:00:01.000+0000"


def test_query_filters_and_query_errors(salesforce):
    salesforce.patch(
        UPSERT,
        json={
            "records": [
                lead("1", LastName="A", Company="ACME", Email="a@example.com"),
                lead("2", LastName="B", Company="Initech"),
            ]
        },
    )
    ids = [r["id"] for r in salesforce.patch(UPSERT, json={"records": [lead("1"), lead("2")]}).json()]
    soql = f"SELECT Id FROM Lead WHERE Id IN ('{ids[1]}')"  # noqa: S608 (SOQL for the simulator)
    by_ids = salesforce.get("/query", params={"q": soql})
    assert [r["Id"] for r in by_ids.json()["records"]] == [ids[1]]
    by_email = salesforce.get("/query", params={"q": "select LastName from Lead where email = 'A@EXAMPLE.COM'"})
    assert [r["LastName"] for r in by_email.json()["records"]] == ["A"]
    limited = salesforce.get("/query", params={"q": "SELECT Id FROM Lead ORDER BY LastName DESC LIMIT 1"})
    assert limited.json()["records"][0]["Id"] == ids[1]
    unknown = salesforce.get("/query", params={"q": "SELECT Shoe FROM Lead"})
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    for broken in ("SELECT FROM Lead", "SELECT Id FROM Lead WHERE", "SELECT Id FROM Lead LIMIT x"):
        reply = salesforce.get("/query", params={"q": broken})
        assert reply.json()[0]["errorCode"] == "MALFORMED_QUERY", broken


def test_soql_subset_handles_or_parentheses_like_and_null():
    schema = LeadSchema(None)
    rows = [
        {"LastName": "Yamada", "Company": "ACME", "Email": None},
        {"LastName": "Sato", "Company": "Initech", "Email": "s@example.com"},
    ]
    query = parse(
        "SELECT Id FROM Lead WHERE (LastName LIKE 'yam%' OR Company = 'initech') AND NOT Email != null", schema
    )
    assert [query.where(r) for r in rows] == [True, False]


def test_every_rest_response_reports_api_usage_and_the_limit_is_enforced(salesforce, control):
    control.patch("/config", json={"salesforce": {"daily_api_limit": 2}})
    assert salesforce.get("/limits").headers["Sforce-Limit-Info"] == "api-usage=1/2"
    limits = salesforce.get("/limits")
    assert limits.json()["DailyApiRequests"] == {"Max": 2, "Remaining": 0}
    over = salesforce.get("/limits")
    assert over.status_code == 403
    assert over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_describe_lead_shows_required_unique_and_picklist_fields(salesforce):
    fields = {f["name"]: f for f in salesforce.get("/sobjects/Lead/describe").json()["fields"]}
    for required in ("LastName", "Company"):
        assert fields[required]["nillable"] is False
        assert fields[required]["defaultedOnCreate"] is False
    assert fields["HubSpot_Contact_Id__c"]["externalId"] is True
    assert fields["HubSpot_Contact_Id__c"]["unique"] is True
    status = fields["Status"]
    assert [p["value"] for p in status["picklistValues"] if p["defaultValue"]] == ["Open - Not Contacted"]
    assert fields["NumberOfEmployees"]["type"] == "int"
    assert salesforce.get("/sobjects/Account/describe").status_code == 404  # not simulated


def test_a_converted_lead_cannot_be_updated(salesforce, control):
    lead_id = salesforce.patch(UPSERT, json={"records": [lead("1", LastName="A", Company="C")]}).json()[0]["id"]
    converted = control.post(f"/salesforce/leads/{lead_id}/convert").json()
    assert converted["IsConverted"] is True
    assert converted["Status"] == "Closed - Converted"
    reply = salesforce.patch(UPSERT, json={"records": [lead("1", Title="CEO")]})
    assert reply.json()[0]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
