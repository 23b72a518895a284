"""The `bridge` command: db, inbox, and clear errors for bad settings."""

import shutil

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.conftest import BASE_ENV, SHIPPED_MAPPINGS
from tests.helpers import hubspot_event, post_hubspot


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for shipped in SHIPPED_MAPPINGS.glob("*.yaml"):
        shutil.copy(shipped, tmp_path / shipped.name)
    env = {**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_MAPPINGS": str(tmp_path)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def counts(output: str) -> dict[str, int]:
    return {name: int(number) for name, number in (line.split() for line in output.splitlines())}


def test_db_upgrade_applies_then_reports_up_to_date(run):
    assert "applied: 0001" in run("db", "upgrade").output
    assert "up to date" in run("db", "upgrade").output


def test_inbox_counts_dead_letters_and_replay(run, client, store):
    post_hubspot(client, [hubspot_event(1)])
    store.conn.db.execute("UPDATE inbox SET status = 'dead', attempts = 10, last_error = 'boom'")
    store.conn.db.conn.commit()
    assert counts(run("inbox").output)["dead"] == 1
    assert "boom" in run("inbox", "dead").output
    assert "1 event(s) queued again" in run("inbox", "replay", "--all").output
    assert counts(run("inbox", "status").output) == {"pending": 1, "processing": 0, "done": 0, "dead": 0}


def test_replay_needs_ids_or_all(run):
    result = CliRunner().invoke(main, ["inbox", "replay"])
    assert result.exit_code == 2 and "give event ids or --all" in result.output


def test_bad_settings_exit_2_listing_problems(run, monkeypatch):
    monkeypatch.setenv("BRIDGE_LEADS_TOKEN", "short")
    monkeypatch.setenv("BRIDGE_RETRY_HOURS", "0")
    result = CliRunner().invoke(main, ["inbox"])
    assert result.exit_code == 2
    assert "2 problem(s)" in result.output and "BRIDGE_LEADS_TOKEN" in result.output


def test_every_command_has_help(run):
    for args in (["serve"], ["worker"], ["db", "upgrade"], ["inbox", "status"], ["inbox", "dead"],
                 ["inbox", "replay"], ["inbox", "rejected"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_serve_refuses_a_broken_mapping_with_file_and_line(run, tmp_path):
    (tmp_path / "handoff.yaml").write_text("handoff: []\n")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 2
    assert "handoff.yaml:1: handoff" in result.output and "bridge mappings check" in result.output


def test_mappings_check_covers_routes_and_handoff_rules(run):
    result = run("mappings", "check")
    assert result.exit_code == 0
    assert "OK hubspot-contact-to-salesforce-lead" in result.output
    assert "OK handoff.yaml: 2 handoff criteria" in result.output


def test_outbox_dead_letters_and_replay(run, store):
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 21, tzinfo=UTC)
    with store.unit_of_work() as work:
        lead = work.leads.touch(now, hubspot_id="501")
        work.outbox.enqueue(lead, "upsert", "hubspot-contact-to-salesforce-lead", now)
    (item,) = store.outbox.claim("o", now, 60, {"upsert": 200}, timedelta(0))
    with store.unit_of_work() as work:
        work.outbox.bury(item["id"], "o", now, "salesforce REQUIRED_FIELD_MISSING: Company", ["Company"])
    assert counts(run("outbox").output)["dead"] == 1
    listed = run("outbox", "dead").output
    assert "REQUIRED_FIELD_MISSING" in listed and "fields=Company" in listed
    assert "1 write(s) queued again" in run("outbox", "replay", str(item["id"])).output
    assert counts(run("outbox", "status").output)["pending"] == 1
