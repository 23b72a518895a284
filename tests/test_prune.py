"""Retention: `bridge db prune` and the worker's daily prune remove finished inbox events (with the changes
made from them) and old rejected bodies; dead letters and unfinished events are never removed."""

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import RetentionSettings
from bridge.kernel.clock import iso
from bridge.kernel.errors import ConfigError
from bridge.retention import DailyPrune, prune
from connectors.base import InboxEvent
from tests.conftest import BASE_ENV
from tests.helpers import make_worker

RETENTION = RetentionSettings(inbox_days=30, rejected_days=90)


def add_event(store, n: int, status: str, finished_at: datetime | None, received_at: datetime) -> int:
    """One inbox event in `status`; a done one also gets the normalised change the worker makes."""
    event = InboxEvent(source="hubspot", event_type="contact.propertyChange", dedupe_key=f"e{n}",
                       record_key=f"contact:{n}", occurred_at=received_at, body="{}")
    store.ingest.add_events([event], received_at)
    with store.unit_of_work() as work:
        db = store.conn.db
        event_id = db.execute("SELECT id FROM inbox WHERE dedupe_key = ?", [f"e{n}"]).fetchone()[0]
        db.execute("UPDATE inbox SET status = ?, finished_at = ? WHERE id = ?",
                   [status, iso(finished_at) if finished_at else None, event_id])
        if status == "done":
            work.changes.record(event_id, "hubspot", f"contact:{n}", "property", iso(received_at), "{}",
                                received_at)
    return event_id


@pytest.fixture
def history(store, clock):
    """Events and refused deliveries of every kind, old and recent, around the clock's "now"."""
    now = clock()
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    ids = {
        "old done": add_event(store, 1, "done", old, old),
        "recent done": add_event(store, 2, "done", recent, recent),
        "old dead": add_event(store, 3, "dead", old, old),
        "old pending": add_event(store, 4, "pending", None, old),
        "old processing": add_event(store, 5, "processing", None, old),
    }
    store.ingest.add_rejected("hubspot", "malformed", b"{", "application/json", now - timedelta(days=91))
    store.ingest.add_rejected("hubspot", "malformed", b"[", "application/json", now - timedelta(days=89))
    return ids


def remaining(store) -> set[int]:
    return {row[0] for row in store.conn.db.execute("SELECT id FROM inbox")}


def test_prune_removes_only_finished_and_old_rows(store, clock, history):
    pruned = prune(store, RETENTION, clock())
    assert (pruned.events, pruned.changes, pruned.rejected) == (1, 1, 1)
    assert remaining(store) == set(history.values()) - {history["old done"]}
    assert [r["body"] for r in store.ingest.rejected()] == [b"["]
    assert store.conn.db.execute("SELECT inbox_id FROM changes").fetchall() == [(history["recent done"],)]
    assert store.conn.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert "removed 1 done inbox event(s) older than 30 days" in pruned.text()
    assert "1 rejected delivery(ies) older than 90 days" in pruned.text()


def test_prune_works_in_chunks(store, clock):
    old = clock() - timedelta(days=40)
    for n in range(7):
        add_event(store, n, "done", old, old)
    assert store.retention.prune_inbox(clock() - timedelta(days=30), chunk=3) == (7, 7)
    assert remaining(store) == set()


def test_zero_days_keeps_everything(store, clock, history):
    pruned = prune(store, RetentionSettings(inbox_days=0, rejected_days=0), clock())
    assert (pruned.events, pruned.rejected) == (0, 0)
    assert remaining(store) == set(history.values()) and len(store.ingest.rejected()) == 2
    assert "BRIDGE_RETAIN_INBOX_DAYS=0 keeps them" in pruned.text()


def test_daily_prune_runs_once_a_day_across_workers(store, clock, history):
    first, second = DailyPrune(store, RETENTION, clock), DailyPrune(store, RETENTION, clock)
    assert first.run_if_due().events == 1
    assert second.run_if_due() is None  # the other worker already ran it today
    clock.advance(hours=23)
    add_event(store, 6, "done", clock() - timedelta(days=31), clock() - timedelta(days=31))
    assert first.run_if_due() is None and second.run_if_due() is None
    clock.advance(hours=1, seconds=1)
    assert second.run_if_due().events == 2  # the one added, and the "recent" one now 30 days old
    assert first.run_if_due() is None
    runs = [e for e in store.admin.audit_entries() if e["action"] == "prune"]
    assert [e["actor"] for e in runs] == ["worker", "worker"]
    assert [e["detail"][:30] for e in runs] == ["removed 2 done inbox event(s) ", "removed 1 done inbox event(s) "]


def test_a_failing_prune_never_stops_the_worker(store, clock, history, monkeypatch, caplog):
    def locked(*_):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store.retention, "prune_inbox", locked)
    daily = DailyPrune(store, RETENTION, clock)
    assert daily.run_if_due() is None
    assert "daily prune failed" in caplog.text
    assert daily.next_check == clock() + timedelta(hours=1)


def test_the_worker_loop_prunes(app, store, clock, history):
    make_worker(app, clock).run_once()
    assert history["old done"] not in remaining(store)
    assert [e["actor"] for e in store.admin.audit_entries() if e["action"] == "prune"] == ["worker"]


def test_bridge_db_prune_prints_what_it_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, value in {**BASE_ENV, "BRIDGE_DB": str(tmp_path / "bridge.db"), "BRIDGE_RETAIN_INBOX_DAYS": "2"}.items():
        monkeypatch.setenv(key, value)
    from bridge.store import Store

    store = Store(tmp_path / "bridge.db")
    store.upgrade()
    long_ago, far_ahead = datetime(2000, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC)  # true on any date
    add_event(store, 1, "done", long_ago, long_ago)
    add_event(store, 2, "done", far_ahead, far_ahead)
    add_event(store, 3, "dead", long_ago, long_ago)
    result = CliRunner().invoke(main, ["db", "prune"])
    assert result.exit_code == 0, result.output
    assert "removed 1 done inbox event(s) older than 2 days" in result.output
    assert "dead letters and unfinished events are never removed" in result.output
    assert len(remaining(store)) == 2
    assert store.admin.audit_entries()[0]["actor"] == "cli" and store.admin.audit_entries()[0]["action"] == "prune"


@pytest.mark.parametrize("value, problem", [
    ("1", "BRIDGE_RETAIN_INBOX_DAYS=1: use 0 (keep forever) or at least 2 days"),
    ("soon", "BRIDGE_RETAIN_INBOX_DAYS='soon' is not a whole number"),
])
def test_retention_settings_are_checked(make_settings, value, problem):
    with pytest.raises(ConfigError, match=re.escape(problem)):
        make_settings(BRIDGE_RETAIN_INBOX_DAYS=value)


def test_retention_settings(make_settings):
    retention = make_settings(BRIDGE_RETAIN_INBOX_DAYS="0", BRIDGE_RETAIN_REJECTED_DAYS="7").retention
    assert retention == RetentionSettings(inbox_days=0, rejected_days=7)
    assert make_settings().retention == RetentionSettings(inbox_days=30, rejected_days=90)
