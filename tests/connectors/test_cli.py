"""`bridge connectors list` and `bridge connectors check`."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from bridge.connectors_cli import connectors

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
KINTONE_TOKEN = "kintone-api-token-AAAAAAAAAAAAAAAAAAAA"


@pytest.fixture
def run(monkeypatch, tmp_path):
    """Invoke the group with exactly `env` as the settings (no .env file, nothing inherited)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("HUBSPOT_", "SALESFORCE_", "KINTONE_")):
            monkeypatch.delenv(name)

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(connectors, list(args), env=env or {})

    return invoke


def test_list_shows_every_connector_and_its_settings(run):
    result = run("list")
    assert result.exit_code == 0
    for text in (
        "hubspot",
        "salesforce",
        "kintone",
        "HUBSPOT_ACCESS_TOKEN",
        "SALESFORCE_PRIVATE_KEY_FILE",
        "KINTONE_MAX_CONCURRENCY",
    ):
        assert text in result.output


def test_check_reports_ok_and_skips_unconfigured_systems(run, rsps):
    rsps.post(
        "https://api.hubapi.com/crm/v3/objects/contacts/search", json={"total": 0, "results": []}
    )
    result = run("check", env={"HUBSPOT_ACCESS_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("hubspot") and " OK " in lines[0] and "(1 request)" in lines[0]
    assert (
        lines[1].startswith("salesforce")
        and "SKIP" in lines[1]
        and "SALESFORCE_CLIENT_ID" in lines[1]
    )


def test_check_fails_on_a_rejected_token_without_printing_it(run, rsps):
    rsps.get(
        "https://example.cybozu.com/k/v1/records.json",
        status=401,
        json={"code": "GAIA_IA02", "id": "x", "message": "指定したAPIトークンが無効です。"},
    )
    env = {
        "KINTONE_BASE_URL": "https://example.cybozu.com",
        "KINTONE_API_TOKEN": KINTONE_TOKEN,
        "KINTONE_APP_ID": "7",
    }
    result = run("check", "kintone", env=env)
    assert result.exit_code == 1
    assert (
        "kintone" in result.output
        and "FAIL" in result.output
        and "check KINTONE_API_TOKEN" in result.output
    )
    assert KINTONE_TOKEN not in result.output


def test_check_lists_settings_problems_and_fails(run):
    result = run("check", env={"KINTONE_BASE_URL": "https://example.cybozu.com"})
    assert result.exit_code == 1
    assert "settings" in result.output and "KINTONE_API_TOKEN" in result.output


def test_check_with_nothing_configured_fails(run):
    result = run("check")
    assert result.exit_code == 1
    assert "no connector is configured" in result.output


def test_check_refuses_unknown_names(run):
    result = run("check", "marketo")
    assert result.exit_code == 2 and "unknown connector marketo" in result.output
