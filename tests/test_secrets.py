"""Secrets stay secret: a mapping placeholder reads only the allow-listed settings, and no response of any endpoint,
no CLI output and no log line shows a secret setting's value, whatever a mapping names as ${SETTING}."""

from __future__ import annotations

import logging
import re
import secrets
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.app import create_app
from bridge.config import API_TOKENS, SECRET_SETTINGS
from bridge.live import LiveMappings
from bridge.mapping import MappingError
from bridge.mapping.loader import PLACEHOLDER_SETTINGS
from bridge.mappings_cli import mappings as mappings_cli
from connectors.sandbox import Sandbox, serve
from connectors.sandbox.cli import build
from tests.admin.conftest import csrf_from, login
from tests.conftest import SF_ORG, SHIPPED_MAPPINGS
from tests.mapping.conftest import check
from tests.mapping.test_validation import KINTONE_HEADER, F

SF_FILE, KINTONE_FILE = "hubspot-contact-to-salesforce-lead.yaml", "hubspot-contact-to-kintone.yaml"
SAMPLE_VALUES = {"name": SF_FILE, "version": 1, "filename": "admin.css", "lead_id": 1}


def test_the_allow_list_holds_no_secret_and_covers_the_shipped_mappings():
    assert set(PLACEHOLDER_SETTINGS).isdisjoint(SECRET_SETTINGS)
    assert not [n for n in PLACEHOLDER_SETTINGS if re.search("TOKEN|SECRET|PASSWORD|KEY|URL", n)]
    used = {m for path in SHIPPED_MAPPINGS.glob("*.yaml")
            for m in re.findall(r"\$\{(\w+)\}", path.read_text(encoding="utf-8"))}
    assert used and used <= set(PLACEHOLDER_SETTINGS)


@pytest.mark.parametrize("name", [*SECRET_SETTINGS, "BRIDGE_API_TOKEN", "HOME", "PATH", "BRIDGE_DB"])
@pytest.mark.parametrize("enabled", ["true", "false"])
def test_a_placeholder_outside_the_allow_list_is_an_error_naming_the_allowed_ones(name, enabled):
    value = f"value-of-{name}-0123456789"
    loaded = check("", header=KINTONE_HEADER.format(enabled=enabled, app=f"${{{name}}}"),
                   env={name: value, "KINTONE_APP_ID": "7"})
    assert [str(e) for e in loaded.errors] == [
        f"{F}:8: target.object: not allowed here: ${{{name}}}; a mapping may use only the setting(s) "
        f"{', '.join(PLACEHOLDER_SETTINGS)}, otherwise write the object name itself"
    ]
    assert loaded.route is None and loaded.warnings == []


def test_an_allowed_setting_that_is_not_a_number_is_named_not_shown():
    loaded = check("", header=KINTONE_HEADER.format(enabled="true", app="${KINTONE_APP_ID}"),
                   env={"KINTONE_APP_ID": "leads-app"})
    assert [str(e) for e in loaded.errors] == [
        f"{F}:8: target.object: a kintone app id is a number, setting KINTONE_APP_ID is not one"
    ]


# -- every endpoint, log line and command, with every secret set to a marker ----------------------------------
def _markers() -> dict[str, str]:
    """A unique, unguessable marker per secret setting (each at least 16 characters, all different)."""
    return {name: f"MARKER-{index:02d}-{secrets.token_hex(8)}" for index, name in enumerate(SECRET_SETTINGS)}


def _values(markers: dict[str, str]) -> dict[str, str]:
    """The settings to set: each marker, inside a URL for the Slack webhook."""
    return {name: f"https://hooks.example.invalid/services/{marker}" if name == "SLACK_WEBHOOK_URL" else marker
            for name, marker in markers.items()}


def _sandbox(values: dict[str, str], accepted: bool) -> Sandbox:
    """A sandbox that accepts the marker credentials (describe succeeds) or its own (every API call is refused)."""
    if not accepted:
        return Sandbox()
    return build(None, hubspot_client_secret=values["HUBSPOT_CLIENT_SECRET"],
                 hubspot_access_token=values["HUBSPOT_ACCESS_TOKEN"],
                 salesforce_client_secret=values["SALESFORCE_CLIENT_SECRET"],
                 salesforce_webhook_token=values["SALESFORCE_WEBHOOK_TOKEN"],
                 kintone_api_token=values["KINTONE_API_TOKEN"], kintone_app_id="1",
                 kintone_webhook_token=values["KINTONE_WEBHOOK_TOKEN"])


PROBES = (*SECRET_SETTINGS, "BRIDGE_API_TOKEN")  # every secret, and the retired all-purpose token


def _with_placeholder(folder: Path, file: str, *names: str) -> str:
    """The shipped file with its target object replaced by ${name}, or by several placeholders in a row."""
    text = (folder / file).read_text(encoding="utf-8")
    old = "  object: Lead\n" if file == SF_FILE else "  object: ${KINTONE_APP_ID}"
    assert old in text
    placeholders = "".join(f"${{{name}}}" for name in names)
    return text.replace(old, f"  object: {placeholders}" + ("\n" if file == SF_FILE else ""))


def _shown(response) -> str:
    return f"{response.status_code} {dict(response.headers)} {response.get_data(as_text=True)}"


def _try_placeholders(admin, tokens: dict, csrf: str, folder: Path) -> list[str]:
    """Every secret as a placeholder (all in one object name), through the API's check, preview and save, and
    the pages' three buttons; each answer names every one of them as not allowed."""
    shown, text = [], _with_placeholder(folder, SF_FILE, *PROBES)
    refused = "not allowed here: " + ", ".join(f"${{{name}}}" for name in PROBES)
    for method, url, body in (("POST", f"/api/admin/mappings/{SF_FILE}/check", {"text": text}),
                              ("POST", f"/api/admin/mappings/{SF_FILE}/preview", {"text": text}),
                              ("PUT", f"/api/admin/mappings/{SF_FILE}", {"text": text}),
                              ("POST", f"/api/admin/mappings/{KINTONE_FILE}/check",
                               {"text": _with_placeholder(folder, KINTONE_FILE, *PROBES)})):
        response = admin.open(url, method=method, headers=tokens["admin"], json=body)
        assert response.status_code == (200 if url.endswith("/check") else 422), (url, response.text)
        assert refused in response.text and ", ".join(PLACEHOLDER_SETTINGS) in response.text
        shown.append(_shown(response))
    for action in ("check", "preview", "save"):
        response = admin.post(f"/admin/mappings/{SF_FILE}", data={"csrf_token": csrf, "action": action,
                                                                 "text": text})
        assert response.status_code == 422 and "not allowed here" in response.text, action
        shown.append(_shown(response))
    return shown


def _call_every_route(app, admin, tokens: dict, folder: Path) -> list[str]:
    """Every route of the app, with every method, in the admin's session, and for an API with no token and with
    each one."""
    shown = []
    body = {"text": _with_placeholder(folder, SF_FILE, *PROBES), "all": True}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint == "admin.logout"):  # logout last
        url = rule.build({arg: SAMPLE_VALUES.get(arg, "1") for arg in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({},) if rule.endpoint.startswith("admin.") else ({}, *tokens.values()):
                shown.append(_shown(admin.open(url, method=method, headers=headers, json=body)))
    return shown


@pytest.mark.parametrize("accepted", [True, False], ids=["credentials-accepted", "credentials-refused"])
def test_no_secret_reaches_any_response_or_log_line(make_settings, clock, caplog, accepted):
    markers = _markers()
    values = _values(markers)
    with serve(_sandbox(values, accepted)) as running:
        env = {**running.sandbox.env(), **values, "BRIDGE_ENV": "development", "BRIDGE_LOG_LEVEL": "DEBUG"}
        # one HubSpot sign-in at a time: a private-app token, or (refused) an OAuth refresh token
        env.pop("HUBSPOT_REFRESH_TOKEN" if accepted else "HUBSPOT_ACCESS_TOKEN")
        settings = make_settings(**env)
        folder = settings.mappings_dir
        app = create_app(settings, clock=clock)
        caplog.set_level(logging.DEBUG)
        admin = app.test_client()
        assert login(admin, values["BRIDGE_ADMIN_PASSWORD"]).status_code == 303
        csrf = csrf_from(admin.get(f"/admin/mappings/{SF_FILE}").text)
        tokens = {api: {"Authorization": f"Bearer {values[name]}"} for api, name in API_TOKENS.items()}

        # the live field checks call every system with the marker credentials: accepted, or refused with an error
        shown = []
        for file in (SF_FILE, KINTONE_FILE):
            live = admin.post(f"/api/admin/mappings/{file}/check", headers=tokens["admin"],
                              json={"text": (folder / file).read_text(encoding="utf-8")})
            failed = [note for note in live.json["notes"] if "could not read its fields" in note]
            assert live.json["ok"] and (failed == [] if accepted else len(failed) == 2), live.json
            shown.append(_shown(live))
        shown += _try_placeholders(admin, tokens, csrf, folder)
        shown += _call_every_route(app, admin, tokens, folder)

        worker = LiveMappings(settings)
        for name in PROBES:  # files edited on the server: the worker logs why it keeps the old ones
            (folder / f"leak-{name.lower()}.yaml").write_text(_with_placeholder(folder, SF_FILE, name),
                                                              encoding="utf-8")
        assert worker.refresh() is False  # new files: the folder changed, and it does not load
        with pytest.raises(MappingError) as refused:  # and start-up refuses, saying why
            create_app(settings, clock=clock)
        shown.append(str(refused.value))
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("not allowed here") >= len(PROBES) and str(refused.value).count("not allowed") == len(PROBES)
    for name, marker in markers.items():
        assert not [text for text in shown if marker in text], f"{name} was shown"
        assert marker not in logged, f"{name} was logged"


def test_mapping_commands_never_print_a_secret(tmp_path, monkeypatch):
    folder = tmp_path / "mappings"
    shutil.copytree(SHIPPED_MAPPINGS, folder)
    markers = _markers()
    monkeypatch.chdir(tmp_path)
    env = {**_values(markers), "BRIDGE_MAPPINGS": str(folder), "BRIDGE_DB": str(tmp_path / "bridge.db"),
           "SALESFORCE_ORG_ID": SF_ORG, "KINTONE_APP_IDS": "7",
           "HUBSPOT_REFRESH_TOKEN": "", "SALESFORCE_CLIENT_SECRET": "", "KINTONE_API_TOKEN": ""}  # no API access
    runner = CliRunner()
    for name in SECRET_SETTINGS:
        (folder / SF_FILE).write_text(_with_placeholder(SHIPPED_MAPPINGS, SF_FILE, name), encoding="utf-8")
        for args in (["check"], ["preview", SF_FILE.removesuffix(".yaml"), "--sample"]):
            result = runner.invoke(mappings_cli, args, env=env)
            assert result.exit_code == 1, result.output
            assert f"not allowed here: ${{{name}}}" in result.output
            assert not [n for n, marker in markers.items() if marker in result.output], result.output
