"""One bad delivery never touches another: concurrent poisoned and clean deliveries, counted end to end."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from bridge.kernel.errors import StoreUnavailable
from bridge.store import Store
from connectors.base import InboxEvent
from tests.conftest import BASE_ENV
from tests.helpers import hubspot_event, post_hubspot

ACTIVITIES_TOKEN = BASE_ENV["BRIDGE_ACTIVITIES_TOKEN"]
HALF_EMOJI = "\ud83d"  # what a browser tag sends when it cuts 😀 in half


def inbox_keys(store: Store, source: str) -> set[str]:
    return {row[0] for row in store.conn.db.execute("SELECT dedupe_key FROM inbox WHERE source = ?", [source])}


def post_activities(client, items):
    return client.post("/api/activities", data=json.dumps(items),
                       headers={"Authorization": f"Bearer {ACTIVITIES_TOKEN}", "Content-Type": "application/json"})


def test_poisoned_and_clean_deliveries_sent_concurrently_lose_no_acknowledged_event(app, store):
    """4 senders, every 5th delivery poisoned: each clean one is stored and 2xx, each poisoned one is 400 and kept."""
    senders, per_sender = 4, 40
    acknowledged: dict[str, set[str]] = {"hubspot": set(), "activities": set()}
    answers: list[tuple[bool, int, str]] = []  # (poisoned, status, error)
    lock = threading.Lock()

    def send(sender: int) -> None:
        client = app.test_client()
        for n in range(per_sender):
            poisoned = n % 5 == 0
            value = f"page{n}{HALF_EMOJI}" if poisoned else f"page{n} 😀"
            if sender % 2:
                event_id = sender * 1000 + n
                response = post_hubspot(client, [hubspot_event(event_id, propertyValue=value)])
                keys = {f"12345:{event_id}:123:{1764000000000 + event_id}:email"}
                source = "hubspot"
            else:
                item = {"id": f"s{sender}-{n}", "email": "hanako@example.co.jp", "type": "pricing_page_visit",
                        "occurred_at": "2026-11-21T10:00:00+09:00", "properties": {"title": value}}
                response = post_activities(client, [item])
                keys, source = {item["id"]}, "activities"
            with lock:
                if 200 <= response.status_code < 300:
                    acknowledged[source] |= keys
                answers.append((poisoned, response.status_code, (response.json or {}).get("error", "")))

    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(senders)))

    missing = {source: keys - inbox_keys(store, source) for source, keys in acknowledged.items()}
    assert missing == {"hubspot": set(), "activities": set()}  # acknowledged but not stored: none
    assert {status for poisoned, status, _ in answers if not poisoned} <= {200, 202}  # every clean one stored
    assert sum(len(keys) for keys in acknowledged.values()) == senders * per_sender * 4 // 5
    refused = [error for poisoned, status, error in answers if poisoned and status == 400]
    assert len(refused) == senders * per_sender // 5 and all("surrogate" in error for error in refused)
    assert len(store.ingest.rejected(limit=1000)) == len(refused)  # and every poisoned body was kept


class _CountingLock:
    """Stands in for the store's pending-queue mutex and tells when `expected` deliveries have queued."""

    def __init__(self, expected: int):
        self._lock = threading.Lock()
        self._entries = 0
        self._expected = expected
        self.all_queued = threading.Event()

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._entries += 1
        reached = self._entries >= self._expected
        self._lock.release()
        if reached:
            self.all_queued.set()


def _event(key: str, body: str) -> InboxEvent:
    return InboxEvent("hubspot", "contact.propertyChange", key, "contact:1", datetime(2026, 11, 21, tzinfo=UTC), body)


@pytest.mark.parametrize("round_", range(3))
def test_a_group_commit_with_an_unstorable_member_still_answers_every_member_truthfully(tmp_path, round_):
    """The store's own guard, under the parse layer: rows UTF-8 cannot encode are forced into one group commit
    with clean ones (all threads queue while the write lock is held). Clean callers get their count, the bad
    ones StoreUnavailable, and nothing acknowledged is missing."""
    store = Store(tmp_path / "inbox.db")
    store.upgrade()
    deliveries = [[_event(f"k{n}-{i}", HALF_EMOJI if n % 4 == round_ else "{}") for i in range(3)]
                  for n in range(12)]
    counting = _CountingLock(len(deliveries))
    store.ingest._pending_mutex = counting  # noqa: SLF001 (white-box: make every delivery join one group)
    answers: dict[int, object] = {}

    def deliver(n: int) -> None:
        try:
            answers[n] = store.ingest.add_events(deliveries[n], datetime(2026, 11, 21, 9, tzinfo=UTC))
        except Exception as error:  # the answer under test
            answers[n] = error

    with store.conn.write_lock:
        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(len(deliveries))]
        for thread in threads:
            thread.start()
        assert counting.all_queued.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=30)

    stored = inbox_keys(store, "hubspot")
    for n, events in enumerate(deliveries):
        keys = {e.dedupe_key for e in events}
        if n % 4 == round_:
            assert isinstance(answers[n], StoreUnavailable) and not keys & stored
        else:
            assert answers[n] == 3 and keys <= stored
    assert len(stored) == 9 * 3


def test_a_failed_group_commit_of_the_database_itself_fails_every_member(tmp_path):
    """Busy or full database: no member is answered as stored, and none is retried alone (each would wait again)."""
    import sqlite3

    store = Store(tmp_path / "inbox.db", busy_timeout_ms=50)
    store.upgrade()
    holder = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.ingest.add_events([_event("k", "{}")], datetime(2026, 11, 21, tzinfo=UTC))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.ingest.add_events([_event("k", "{}")], datetime(2026, 11, 21, tzinfo=UTC)) == 1


def test_an_unexpected_failure_while_committing_answers_503_not_2xx(client, store, monkeypatch):
    def broken(events, received_at):
        raise UnicodeEncodeError("utf-8", HALF_EMOJI, 0, 1, "surrogates not allowed")

    monkeypatch.setattr(store.ingest, "add_events", broken)
    response = post_hubspot(client, [hubspot_event(1)])
    assert response.status_code == 503 and "retry" in response.json["error"]
