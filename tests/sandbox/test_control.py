"""The control API and the command: injected failures, call counts, configuration, reset, settings."""

from __future__ import annotations

import requests
from click.testing import CliRunner

from connectors.sandbox.cli import banner, build
from connectors.sandbox.cli import sandbox as sandbox_command

BATCH_UPSERT = "/crm/v3/objects/contacts/batch/upsert"
ONE = {"inputs": [{"id": "a@example.com", "idProperty": "email", "properties": {}}]}


def test_injected_failures_answer_in_each_systems_shape_then_stop(control, hubspot, salesforce, kintone):
    control.post("/failures", json={"endpoint": "hubspot.batch_upsert", "status": 503, "count": 2})
    control.post("/failures", json={"endpoint": "salesforce.*", "status": 500, "code": "UNABLE_TO_LOCK_ROW"})
    control.post("/failures", json={"endpoint": "kintone.records_read", "status": 429, "retry_after": 3})
    assert [hubspot.post(BATCH_UPSERT, json=ONE).status_code for _ in range(3)] == [503, 503, 200]
    locked = salesforce.get("/limits")
    assert locked.status_code == 500
    assert locked.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    busy = kintone.get("/records.json", params={"app": 1})
    assert busy.status_code == 429
    assert busy.headers["Retry-After"] == "3"
    assert set(busy.json()) == {"code", "id", "message"}
    assert control.get("/failures").json() == []
    calls = control.get("/calls").json()
    assert calls["hubspot.batch_upsert"] == {"calls": 3, "statuses": {"200": 1, "503": 2}}
    assert calls["salesforce.limits"]["calls"] == 1


def test_an_injected_hubspot_429_carries_the_rate_limit_body(control, hubspot):
    control.post("/failures", json={"endpoint": "hubspot.*", "status": 429})
    reply = hubspot.post(BATCH_UPSERT, json=ONE)
    assert reply.status_code == 429
    assert reply.json()["policyName"] == "TEN_SECONDLY_ROLLING"


def test_bad_failure_and_config_requests_are_refused(control):
    assert control.post("/failures", json={"endpoint": "x", "status": 200}).status_code == 400
    assert control.post("/failures", json={"status": 503}).status_code == 400
    reply = control.patch("/config", json={"hubspot": {"rate_limit": "fast", "shoe": 1}, "jira": {}})
    assert reply.status_code == 400
    assert len(reply.json()["problems"]) == 3


def test_reset_forgets_records_counts_and_sessions(control, hubspot, salesforce, sandbox):
    control.post("/hubspot/contacts", json={"records": [{"email": "a@example.com"}]})
    control.post("/salesforce/leads", json={"records": [{"LastName": "A", "Company": "C"}]})
    control.post("/kintone/apps/1/records", json={"records": [{"company": "A"}]})
    assert len(control.get("/salesforce/leads").json()) == 1
    assert control.post("/reset").status_code == 204
    assert control.get("/hubspot/contacts").json() == []
    assert control.get("/kintone/apps/1/records").json() == []
    assert control.get("/calls").json() == {}
    assert salesforce.get("/limits").status_code == 401
    assert hubspot.get("/crm/v3/properties/contacts").status_code == 200  # private-app tokens stay


def test_control_edits_validate_like_the_ui(control):
    refused = control.post("/salesforce/leads", json={"records": [{"LastName": "A"}]})
    assert refused.status_code == 400
    assert refused.json()["code"] == "REQUIRED_FIELD_MISSING"
    kintone = control.post("/kintone/apps/1/records", json={"records": [{"industry": "宇宙"}]})
    assert kintone.json()["code"] == "CB_VA01"
    assert control.get("/kintone/apps/9/records").status_code == 404


def test_index_lists_the_endpoints_and_the_settings(control, sandbox):
    index = control.get("").json()
    assert "hubspot.batch_upsert" in index["endpoints"]
    assert "kintone.cursor_read" in index["endpoints"]
    assert index["env"]["HUBSPOT_API_BASE"] == f"{sandbox.base_url}/hubspot"
    assert index["env"]["SALESFORCE_LOGIN_URL"] == f"{sandbox.base_url}/salesforce"
    assert index["env"]["KINTONE_BASE_URL"] == f"{sandbox.base_url}/kintone"


def test_build_keeps_given_credentials_and_wires_webhooks_to_the_bridge():
    sandbox = build(
        "http://127.0.0.1:8000/",
        hubspot_client_secret="yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        kintone_api_token="tok-a,tok-b",
        kintone_app_id="7",
        salesforce_webhook_token="sf-token-0123456789abcdef",
    )
    env = sandbox.env()
    assert env["HUBSPOT_CLIENT_SECRET"] == "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    assert env["KINTONE_API_TOKEN"] == "tok-a"
    assert env["KINTONE_APP_ID"] == "7"
    assert env["SALESFORCE_WEBHOOK_TOKEN"] == "sf-token-0123456789abcdef"
    assert len(env["KINTONE_WEBHOOK_TOKEN"]) >= 16
    assert sandbox.config.hubspot.webhook_url == "http://127.0.0.1:8000/webhooks/hubspot"
    assert sandbox.config.salesforce.outbound_url.endswith("/webhooks/salesforce?token=sf-token-0123456789abcdef")
    text = banner(sandbox)
    assert "export HUBSPOT_API_BASE=http://127.0.0.1/hubspot" in text
    assert "http://127.0.0.1:8000/webhooks/kintone?token=" in text


def test_the_command_documents_its_options():
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    assert "--bridge-url" in result.output
    assert "--port" in result.output


def test_the_sandbox_answers_on_loopback_only(sandbox):
    assert sandbox.base_url.startswith("http://127.0.0.1:")
    assert requests.get(f"{sandbox.base_url}/_sandbox", timeout=5).status_code == 200
