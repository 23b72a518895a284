"""The mappings folder: all files checked at once, start-up refusal, atomic saves with comments."""

from __future__ import annotations

import shutil

import pytest

from bridge.mapping import (
    MappingError,
    check_folder,
    check_text,
    dump_document,
    load_document,
    load_routes,
    save_mapping,
)
from tests.mapping.conftest import ENV, HEADER, MAPPINGS

GOOD = (
    HEADER
    + """\
  # 会社名は必須 / Company is required
  - source: company
    target: Company   # 既定値あり / with a default
    default: (不明)
"""
)


@pytest.fixture
def folder(tmp_path):
    for path in MAPPINGS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_errors_of_every_file_are_reported_together(folder):
    (folder / "a-broken.yaml").write_text(
        HEADER + "  - source: email\n    target: Email\n    transforms: [nfck]\n", encoding="utf-8"
    )
    (folder / "b-broken.yaml").write_text(HEADER + "  - source: email\n", encoding="utf-8")
    with pytest.raises(MappingError) as error:
        load_routes(folder, ENV)
    assert [f"{p.file.rsplit('/', 1)[1]}:{p.line}" for p in error.value.problems] == [
        "a-broken.yaml:12",
        "b-broken.yaml:10",
    ]
    assert "the field mappings have 2 problem(s)" in str(error.value)
    assert "a-broken.yaml:12: fields[0] (Email).transforms[0]: unknown transform 'nfck'" in str(error.value)


def test_load_routes_returns_every_route_by_name(folder):
    routes = load_routes(folder, ENV)
    assert sorted(routes) == ["hubspot-contact-to-kintone", "hubspot-contact-to-salesforce-lead"]
    assert routes["hubspot-contact-to-salesforce-lead"].target.key == "HubSpot_Contact_Id__c"


def test_handoff_rules_hidden_files_and_other_files_are_not_routes(folder):
    (folder / "handoff.yaml").write_text("criteria: []\n", encoding="utf-8")
    (folder / ".draft.yaml").write_text("nonsense: [", encoding="utf-8")
    (folder / "README.md").write_text("# notes\n", encoding="utf-8")
    assert check_folder(folder, ENV).ok


def test_missing_folder_and_non_utf8_file(tmp_path):
    report = check_folder(tmp_path / "nowhere", ENV)
    assert [str(p) for p in report.errors] == [
        f"{tmp_path / 'nowhere'}: (folder): does not exist; create it or point BRIDGE_MAPPINGS at "
        "the folder holding "
        "the mapping files"
    ]
    (tmp_path / "sjis.yaml").write_bytes("会社名: x\n".encode("shift_jis"))
    report = check_folder(tmp_path, ENV)
    assert "is not UTF-8 text" in str(report.errors[0]) and "save it as UTF-8" in str(report.errors[0])


def test_a_file_saved_by_windows_notepad_reads_fine(tmp_path):
    (tmp_path / "leads.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode("utf-8"))
    report = check_folder(tmp_path, ENV)
    assert report.ok and report.routes["leads"].fields[0].default == "(不明)"


def test_save_writes_unix_line_ends_from_a_browser_textarea(tmp_path):
    path = tmp_path / "leads.yaml"
    save_mapping(path, GOOD.replace("\n", "\r\n"), ENV)
    assert path.read_bytes() == GOOD.encode("utf-8")


def test_same_route_name_twice(tmp_path):
    (tmp_path / "leads.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "leads.yml").write_text(GOOD, encoding="utf-8")
    report = check_folder(tmp_path, ENV)
    assert len(report.errors) == 1 and "same route name as" in report.errors[0].message


def test_a_candidate_text_is_checked_without_writing(tmp_path):
    path = tmp_path / "leads.yaml"
    loaded = check_text(GOOD.replace("Company", "Compnay"), path, ENV)
    assert loaded.errors == [] and not path.exists()
    assert loaded.route.fields[0].target == "Compnay"


def test_save_rejects_a_broken_text_and_keeps_the_active_version(tmp_path):
    path = tmp_path / "leads.yaml"
    save_mapping(path, GOOD, ENV)
    broken = GOOD.replace("default: (不明)", "transforms: [nfck]")
    with pytest.raises(MappingError) as error:
        save_mapping(path, broken, ENV)
    assert "leads.yaml:13: fields[0] (Company).transforms[0]: unknown transform 'nfck'" in str(error.value)
    assert path.read_text(encoding="utf-8") == GOOD
    assert [p.name for p in tmp_path.iterdir()] == ["leads.yaml"]  # no temporary file left behind


def test_save_refuses_a_name_that_is_not_a_route(tmp_path):
    with pytest.raises(MappingError, match="a route file name ends in .yaml"):
        save_mapping(tmp_path / "handoff.yaml", GOOD, ENV)
    with pytest.raises(MappingError):
        save_mapping(tmp_path / "leads.txt", GOOD, ENV)


def test_save_keeps_the_file_mode(tmp_path):
    path = tmp_path / "leads.yaml"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0o640)
    route = save_mapping(path, GOOD.replace("(不明)", "Unknown"), ENV)
    assert route.fields[0].default == "Unknown"
    assert path.stat().st_mode & 0o777 == 0o640


def test_comments_survive_an_edit_through_load_and_save(tmp_path):
    path = tmp_path / "leads.yaml"
    shipped = (MAPPINGS / "hubspot-contact-to-salesforce-lead.yaml").read_text(encoding="utf-8")
    document = load_document(shipped)
    document["enabled"] = False
    document["fields"][1]["default"] = "Unknown"
    text = dump_document(document)
    route = save_mapping(path, text, ENV)
    saved = path.read_text(encoding="utf-8")
    assert not route.enabled and route.fields[1].default == "Unknown"
    assert "# HubSpot コンタクト → Salesforce リード" in saved
    assert "# Salesforce では姓が必須 / Salesforce requires LastName" in saved
    assert "# 外部ID・一意のカスタム項目 (テキスト)" in saved
    # everything but the two edited lines is byte for byte what the admin wrote
    changed = [(a, b) for a, b in zip(shipped.splitlines(), saved.splitlines(), strict=True) if a != b]
    assert changed[0] == ("enabled: true", "enabled: false")
    assert changed[1][1].startswith("    default: Unknown ")
    assert changed[1][1].endswith("# Salesforce では姓が必須 / Salesforce requires LastName")
    assert len(changed) == 2
