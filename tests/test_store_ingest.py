"""Store.add_events: many rows per statement, counted right; writers of all processes take turns on one lock file."""

from __future__ import annotations

import fcntl
import os
import stat
from datetime import UTC, datetime

import pytest

from bridge.kernel.errors import StoreUnavailable
from bridge.store import Store
from connectors.base import InboxEvent

NOW = datetime(2026, 11, 21, 9, tzinfo=UTC)


def events(keys) -> list[InboxEvent]:
    return [InboxEvent("activities", "pricing_page_visit", key, "email:a@example.co.jp", NOW, "{}") for key in keys]


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "inbox.db", busy_timeout_ms=100)
    store.upgrade()
    return store


def test_a_delivery_of_more_rows_than_one_statement_holds_is_stored_and_counted(store):
    assert store.ingest.add_events(events(f"k{n}" for n in range(1000)), NOW) == 1000
    # Half new, half already there, spread over several statements; a key twice in one delivery counts once.
    again = events([*(f"k{n}" for n in range(500, 1000)), *(f"n{n}" for n in range(500)), "n0"])
    assert store.ingest.add_events(again, NOW) == 500
    assert store.inbox.counts()["pending"] == 1500


def test_another_process_holding_the_write_lock_gets_503_not_a_hang(store):
    holder = os.open(f"{store.path}-write.lock", os.O_RDWR)  # its own open file: as another process has
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(StoreUnavailable, match="another Bridge process"):
            store.ingest.add_events(events(["a"]), NOW)
        with pytest.raises(StoreUnavailable):  # a refused delivery cannot be kept either: 503 as well
            store.ingest.add_rejected("kintone", "body: bad", b"{", "application/json", NOW)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    assert store.ingest.add_events(events(["a"]), NOW) == 1  # the turn comes as soon as it is let go


def test_the_write_lock_file_is_private(store):
    assert stat.S_IMODE(os.stat(f"{store.path}-write.lock").st_mode) == 0o600
