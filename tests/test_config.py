"""Settings: defaults, .env files, and every problem reported at once."""

import pytest

from bridge.config import SHIPPED_MAPPINGS, load_settings
from bridge.kernel.errors import ConfigError
from connectors.registry import load_connectors


def test_defaults_without_any_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings({}, dotenv=None)
    assert str(settings.db_path) == "bridge.db"
    assert settings.mappings_dir == SHIPPED_MAPPINGS and settings.mappings_shipped  # no ./mappings here
    assert settings.api_tokens == {"activities": None, "leads": None, "admin": None}
    assert load_connectors(settings.env)[0]["hubspot"].webhook_problem() is not None


def test_dotenv_is_read_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BRIDGE_DB={tmp_path}/from-dotenv.db\nHUBSPOT_CLIENT_SECRET=dotenv-secret\n")
    settings = load_settings({"HUBSPOT_CLIENT_SECRET": "env-secret"}, dotenv=dotenv)
    assert settings.db_path.name == "from-dotenv.db"
    assert load_connectors(settings.env)[0]["hubspot"].client_secret == "env-secret"


def test_every_problem_is_listed_at_once(tmp_path):
    env = {
        "BRIDGE_DB": str(tmp_path / "missing-folder" / "x.db"),
        "BRIDGE_ADMIN_TOKEN": "short",
        "BRIDGE_RETRY_HOURS": "many",
        "SALESFORCE_WEBHOOK_TOKEN": "sf-token-0123456789abcdef",
        "SALESFORCE_ORG_ID": "00Dbad",
        "KINTONE_WEBHOOK_TOKEN": "kintone-token-0123456789",
        "KINTONE_APP_IDS": "7,eight",
        "HUBSPOT_WEBHOOK_URL": "bridge.example.com/webhooks/hubspot",
        "BRIDGE_ENV": "staging",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env, dotenv=None)
    text = str(caught.value)
    for expected in ("BRIDGE_ADMIN_TOKEN is 5 characters", "BRIDGE_RETRY_HOURS='many'", "SALESFORCE_ORG_ID='00Dbad'",
                     "KINTONE_APP_IDS", "eight", "HUBSPOT_WEBHOOK_URL", "BRIDGE_ENV='staging'", "missing-folder"):
        assert expected in text
    assert len(caught.value.problems) == 7


def test_the_retired_attempt_count_says_what_replaced_it(tmp_path):
    with pytest.raises(ConfigError, match="BRIDGE_MAX_ATTEMPTS is no longer used.*BRIDGE_RETRY_HOURS"):
        load_settings({"BRIDGE_DB": str(tmp_path / "x.db"), "BRIDGE_MAX_ATTEMPTS": "10"}, dotenv=None)


def test_half_configured_connector_is_a_problem(tmp_path):
    with pytest.raises(ConfigError, match="KINTONE_WEBHOOK_TOKEN is set, so KINTONE_APP_IDS must be set too"):
        load_settings({"BRIDGE_DB": str(tmp_path / "x.db"), "KINTONE_WEBHOOK_TOKEN": "kintone-token-0123456789"},
                      dotenv=None)
