"""Mappings and handoff rules are parsed once per content, never served stale: a changed file is seen at once."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from bridge.handoff import load as rules_loading
from bridge.handoff.load import check_rules_text, load_rules
from bridge.mapping import MappingError, Route, check_folder, check_text, files, load_routes
from tests.mapping.conftest import ENV, MAPPINGS

SF_FILE = "hubspot-contact-to-salesforce-lead.yaml"
KINTONE_FILE = "hubspot-contact-to-kintone.yaml"


@pytest.fixture
def folder(tmp_path: Path, request) -> Path:
    """A copy of the shipped mappings, each file with a comment of its own: no other test has parsed these texts."""
    for path in MAPPINGS.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        (tmp_path / path.name).write_text(f"# {request.node.nodeid}\n{text}", encoding="utf-8")
    return tmp_path


@pytest.fixture
def route_checks(monkeypatch) -> list[str]:
    """The files that really went through check_text (parsed) from check_folder."""
    checked, real = [], files.check_text
    monkeypatch.setattr(files, "check_text", lambda text, file, *args: checked.append(Path(file).name)
                        or real(text, file, *args))
    return checked


@pytest.fixture
def rules_checks(monkeypatch) -> list[str]:
    checked, real = [], rules_loading.check_rules_text
    monkeypatch.setattr(rules_loading, "check_rules_text", lambda text, file: checked.append(text) or real(text, file))
    return checked


def shape(route: Route) -> tuple:
    """All a route says, with each transform by its label (a transform compares by identity)."""
    fields = tuple((f.index, f.target, f.source, f.direction, f.conflict, f.required, f.default,
                    tuple(t.label() for t in f.transforms), tuple(t.label() for t in f.reverse)) for f in route.fields)
    return route.name, route.source, route.target, route.enabled, route.description, route.path, fields


def replace_keeping_size_and_time(path: Path, old: str, new: str) -> None:
    """Edit a file without changing its size or modification time: only its content tells it changed."""
    assert len(old) == len(new)
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_the_same_texts_are_parsed_once_wherever_they_are(folder, tmp_path_factory, route_checks):
    other = tmp_path_factory.mktemp("other")
    for path in folder.glob("*.yaml"):
        shutil.copy(path, other / path.name)
    first, second, again = load_routes(folder, ENV), load_routes(other, ENV), load_routes(folder, ENV)
    assert sorted(route_checks) == [KINTONE_FILE, SF_FILE]  # the copy and the second look parsed nothing
    assert first == again
    for name in first:  # each folder's routes name their own files
        assert first[name].path == folder / f"{name}.yaml" and second[name].path == other / f"{name}.yaml"
        fresh = check_text((other / f"{name}.yaml").read_text(encoding="utf-8"), other / f"{name}.yaml", ENV)
        assert shape(second[name]) == shape(fresh.route)


def test_a_changed_file_is_seen_even_with_the_same_size_and_time(folder):
    assert load_routes(folder, ENV)["hubspot-contact-to-salesforce-lead"].target.key == "HubSpot_Contact_Id__c"
    replace_keeping_size_and_time(folder / SF_FILE, "key: HubSpot_Contact_Id__c", "key: HubSpot_Contact_Id__x")
    assert load_routes(folder, ENV)["hubspot-contact-to-salesforce-lead"].target.key == "HubSpot_Contact_Id__x"


def test_the_settings_a_mapping_names_are_part_of_what_is_remembered(folder):
    assert load_routes(folder, {"KINTONE_APP_ID": "7"})["hubspot-contact-to-kintone"].target.object == "7"
    assert load_routes(folder, {"KINTONE_APP_ID": "8"})["hubspot-contact-to-kintone"].target.object == "8"


def test_remembered_problems_name_each_folders_file(folder, tmp_path_factory):
    broken = folder / SF_FILE
    broken.write_text(broken.read_text(encoding="utf-8").replace("transforms: [", "transforms: [nfck, ", 1),
                      encoding="utf-8")
    other = tmp_path_factory.mktemp("other")
    shutil.copy(broken, other / SF_FILE)
    for where in (folder, other, folder):
        report = check_folder(where, ENV)
        fresh = check_text(broken.read_text(encoding="utf-8"), where / SF_FILE, ENV)
        assert report.errors == fresh.errors and report.errors  # the same problems, at this folder's file
        assert {p.file for p in report.errors} == {str(where / SF_FILE)}
        with pytest.raises(MappingError, match=re.escape(str(where / SF_FILE))):
            load_routes(where, ENV)


def test_handoff_rules_are_parsed_once_and_a_change_is_seen(folder, rules_checks):
    first = load_rules(folder)
    assert load_rules(folder) is first and len(rules_checks) == 1
    replace_keeping_size_and_time(folder / "handoff.yaml", "points: 20", "points: 21")
    changed = load_rules(folder)
    assert len(rules_checks) == 2 and changed != first
    assert (first.attributes[0].points, changed.attributes[0].points) == (20, 21)


def test_remembered_rule_problems_name_the_file_read(folder, tmp_path_factory):
    rules = folder / "handoff.yaml"
    rules.write_text("handoff: [\n", encoding="utf-8")
    other = tmp_path_factory.mktemp("other")
    shutil.copy(rules, other / "handoff.yaml")
    for where in (folder, other):
        with pytest.raises(MappingError) as error:
            load_rules(where)
        assert error.value.problems == check_rules_text("handoff: [\n", where / "handoff.yaml")[1]
        assert {p.file for p in error.value.problems} == {str(where / "handoff.yaml")}
