"""`bridge mappings check | preview | schema` through click's CliRunner."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from bridge.mappings_cli import mappings
from tests.conftest import BASE_ENV
from tests.mapping.conftest import HEADER, MAPPINGS

KINTONE = {
    "KINTONE_APP_ID": "7",
    "KINTONE_BASE_URL": "https://example.cybozu.com",
    "KINTONE_API_TOKEN": "kintone-api-token-0123456789",
}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A mappings folder with copies of the shipped files, and settings pointing at it."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    folder = tmp_path / "mappings"
    folder.mkdir()
    for path in MAPPINGS.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    env = {
        **BASE_ENV,
        **KINTONE,
        "BRIDGE_DB": str(tmp_path / "bridge.db"),
        "BRIDGE_MAPPINGS": str(folder),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return folder


def run(*args):
    return CliRunner().invoke(mappings, list(args), catch_exceptions=False)


def test_check_prints_ok_per_route(folder):
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "OK hubspot-contact-to-kintone: hubspot contacts → kintone 7, upsert on hubspot_contact_id, 21 field(s), "
        "disabled",
        "OK hubspot-contact-to-salesforce-lead: hubspot contacts → salesforce Lead, upsert on "
        "HubSpot_Contact_Id__c, "
        "20 field(s)",
        "OK handoff.yaml: 2 handoff criteria, 6 attribute and 6 behaviour rules, 3 exclusions",
        "OK feedback.yaml: 4 sales object(s), 8 reasons, 5 lifecycle moves",
        "OK sla.yaml: 2 SLA policies (hot, standard), calendar in Asia/Tokyo",
    ]


def test_check_fails_with_exit_1_listing_every_problem_of_every_file(folder):
    (folder / "broken.yaml").write_text(
        HEADER
        + """\
  - source: email
    target: Email
    transforms: [nfck]
  - source: phone
    target: Email
  - source: bridge.score
    target: Title
    transforms: [number, upper]
""",
        encoding="utf-8",
    )
    text = (folder / "hubspot-contact-to-kintone.yaml").read_text(encoding="utf-8")
    (folder / "hubspot-contact-to-kintone.yaml").write_text(
        text.replace("default: その他", "defualt: その他"), encoding="utf-8"
    )
    result = run("check")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "3 problem(s)"
    assert [line.split(": ")[0].rsplit("/", 1)[1] for line in lines[:-1]] == [
        "broken.yaml:12",
        "broken.yaml:17",
        "hubspot-contact-to-kintone.yaml:130",
    ]
    assert "unknown transform 'nfck'" in lines[0]
    assert "upper cannot take a number" in lines[1]
    assert "unknown key (did you mean 'default'?)" in lines[2]
    assert "OK " not in result.output


def test_check_live_notes_systems_it_cannot_reach(folder, monkeypatch):
    for key in KINTONE:
        monkeypatch.delenv(key)
    (folder / "hubspot-contact-to-kintone.yaml").unlink()
    result = run("check", "--live")
    assert result.exit_code == 0, result.output
    assert (
        "note: salesforce Lead: not checked against the live object (Salesforce API is not configured" in result.output
    )
    assert "OK hubspot-contact-to-salesforce-lead" in result.output


def test_check_reports_bad_settings_with_exit_2(folder, monkeypatch):
    monkeypatch.setenv("BRIDGE_ADMIN_TOKEN", "short")
    result = run("check")
    assert result.exit_code == 2 and "BRIDGE_ADMIN_TOKEN" in result.output


def test_preview_sample_shows_each_field_with_its_transforms(folder):
    result = run("preview", "hubspot-contact-to-salesforce-lead", "--sample")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("hubspot-contact-to-salesforce-lead: hubspot contacts → salesforce Lead")
    assert 'HubSpot_Contact_Id__c = "1001"   [upsert key]\n    from hs_object_id = "1001"\n' in out
    assert (
        'Company = "ヤマダソフトウェア(株)"\n'
        '    from company = "ﾔﾏﾀﾞｿﾌﾄｳｪｱ㈱"\n'
        '    trim → "ﾔﾏﾀﾞｿﾌﾄｳｪｱ㈱"\n'
        '    nfkc → "ヤマダソフトウェア(株)"\n'
    ) in out
    assert 'NumberOfEmployees = 300\n    from numemployees = "100-500"\n    map → 300\n' in out
    assert 'LeadSource = "Web"\n    constant(value=Web) → "Web"\n' in out
    payload = json.loads(out[out.index("payload:\n") + len("payload:\n") :])
    assert payload["LastName"] == "山田" and payload["Phone"] == "03-1234-5678"


def test_preview_record_file_shows_defaults_and_notes(folder, tmp_path):
    record = tmp_path / "contact.json"
    record.write_text(
        json.dumps(
            {
                "id": "55",
                "properties": {
                    "lastname": "",
                    "company": "ＡＣＭＥ",
                    "numemployees": "10000+",
                    "industry": "農業",
                },
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    result = run("preview", "hubspot-contact-to-salesforce-lead", "--record", str(record))
    assert result.exit_code == 0, result.output
    assert (
        'LastName = "(不明)"\n    from lastname = ""\n    trim → ""\n    nfkc → ""\n    default → '
        '"(不明)"\n' in result.output
    )
    assert "NumberOfEmployees = (not sent: empty)" in result.output
    assert "note: '10000+' is not in the map; default None used" in result.output
    assert 'Company = "ACME"' in result.output and 'Industry = "Other"' in result.output


def test_preview_json_and_a_record_that_cannot_be_sent(folder, tmp_path):
    record = tmp_path / "contact.json"
    record.write_text(json.dumps({"email": "a@example.com"}), encoding="utf-8")
    result = run("preview", "hubspot-contact-to-kintone", "--record", str(record), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["errors"] == ["hubspot_contact_id: upsert key hs_object_id is empty"]
    assert data["payload"]["email"] == "a@example.com"
    assert data["rows"][0]["key"] is True


def test_preview_usage_errors(folder, tmp_path):
    assert "give --record FILE or --sample" in run("preview", "hubspot-contact-to-kintone").output
    result = run("preview", "nope", "--sample")
    assert result.exit_code == 2
    assert "no route 'nope'" in result.output and "hubspot-contact-to-salesforce-lead" in result.output
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    result = run("preview", "hubspot-contact-to-kintone", "--record", str(tmp_path / "list.json"))
    assert result.exit_code == 2 and "must hold a JSON object" in result.output


def test_preview_of_a_broken_route_lists_its_problems(folder):
    (folder / "broken.yaml").write_text(
        HEADER + "  - source: email\n    target: Email\n    transforms: [nfck]\n", encoding="utf-8"
    )
    result = run("preview", "broken", "--sample")
    assert result.exit_code == 1 and "broken.yaml:12: fields[0] (Email).transforms[0]" in result.output


def test_schema_is_valid_json_describing_the_format():
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["source", "target", "fields"]
    steps = schema["properties"]["fields"]["items"]["properties"]["transforms"]["items"]["anyOf"]
    assert "trim" in steps[0]["enum"] and "map" not in steps[0]["enum"]
    assert set(steps[1]["properties"]) == {
        "trim",
        "upper",
        "lower",
        "nfkc",
        "map",
        "number",
        "boolean",
        "date",
        "datetime",
        "split_name",
        "join_name",
        "constant",
        "template",
    }
    assert "全角" in steps[1]["properties"]["nfkc"]["description"]


def test_every_command_has_help():
    for command in ("check", "preview", "schema"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
