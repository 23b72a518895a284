"""Where Bridge finds its mappings (BRIDGE_MAPPINGS, ./mappings, the shipped defaults) and `bridge init`."""

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import SHIPPED_MAPPINGS, load_settings
from bridge.handoff.load import load_rules
from bridge.mapping import load_routes

SHIPPED_FILES = sorted(p.name for p in SHIPPED_MAPPINGS.glob("*.yaml"))


@pytest.fixture
def empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("BRIDGE_MAPPINGS", "BRIDGE_DB"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def init(*args):
    return CliRunner().invoke(main, ["init", *args])


def test_the_package_ships_the_top_level_mappings_folder():
    assert SHIPPED_FILES == ["feedback.yaml", "handoff.yaml", "hubspot-contact-to-kintone.yaml",
                             "hubspot-contact-to-salesforce-lead.yaml", "sla.yaml"]
    # One copy: in a checkout the packaged folder is a link to the top-level mappings/, not a duplicate.
    assert SHIPPED_MAPPINGS.resolve() == (SHIPPED_MAPPINGS.parent.parent / "mappings").resolve()


def test_lookup_order_setting_then_local_folder_then_shipped_defaults(empty_folder):
    settings = load_settings({}, dotenv=None)
    assert settings.mappings_dir == SHIPPED_MAPPINGS and settings.mappings_shipped

    (empty_folder / "mappings").mkdir()
    settings = load_settings({}, dotenv=None)
    assert str(settings.mappings_dir) == "mappings" and not settings.mappings_shipped

    elsewhere = empty_folder / "elsewhere"
    settings = load_settings({"BRIDGE_MAPPINGS": str(elsewhere)}, dotenv=None)
    assert settings.mappings_dir == elsewhere and not settings.mappings_shipped


def test_init_writes_an_editable_commented_copy_that_loads(empty_folder):
    result = init()
    assert result.exit_code == 0, result.output
    written = empty_folder / "mappings"
    assert sorted(p.name for p in written.iterdir()) == SHIPPED_FILES
    text = (written / "handoff.yaml").read_text(encoding="utf-8")
    assert text.startswith("# `bridge init`") and "edit freely" in text.splitlines()[1]
    assert text.endswith((SHIPPED_MAPPINGS / "handoff.yaml").read_text(encoding="utf-8"))
    assert load_routes(written, {}) and load_rules(written).criteria
    assert "bridge mappings check" in result.output and "次に" in result.output
    assert "reads ./mappings" in result.output and "BRIDGE_MAPPINGS" not in result.output
    settings = load_settings({}, dotenv=None)  # started here, Bridge now reads the copy
    assert str(settings.mappings_dir) == "mappings" and not settings.mappings_shipped


def test_init_refuses_to_overwrite_without_force(empty_folder):
    assert init().exit_code == 0
    edited = empty_folder / "mappings" / "handoff.yaml"
    edited.write_text("# my rules\n", encoding="utf-8")
    result = init()
    assert result.exit_code == 1
    assert "handoff.yaml" in result.output and "--force" in result.output and "nothing was written" in result.output
    assert edited.read_text(encoding="utf-8") == "# my rules\n"
    assert init("--force").exit_code == 0
    assert edited.read_text(encoding="utf-8").endswith((SHIPPED_MAPPINGS / "handoff.yaml").read_text(encoding="utf-8"))


def test_init_into_another_folder_says_to_set_bridge_mappings(empty_folder):
    result = init("config/mappings")
    assert result.exit_code == 0, result.output
    assert (empty_folder / "config" / "mappings" / "handoff.yaml").is_file()
    assert f"BRIDGE_MAPPINGS={empty_folder / 'config' / 'mappings'}" in result.output


def test_init_needs_no_settings(empty_folder, monkeypatch):
    monkeypatch.setenv("BRIDGE_RETRY_HOURS", "many")  # a broken setting does not stop an admin from starting
    assert init().exit_code == 0

