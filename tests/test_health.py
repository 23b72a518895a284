"""Liveness and readiness: the database, its write lock, the disk, the worker's heartbeat, the mappings."""

import sqlite3
import threading
from collections import namedtuple

import pytest

from bridge.app import create_app
from bridge.web import health
from bridge.worker.heartbeat import Heartbeat
from tests.helpers import make_worker

Usage = namedtuple("Usage", "total used free")
MB = 2**20


@pytest.fixture
def beating(store, clock):
    """A worker that has just beaten, at the app's "now"."""
    store.health.beat("worker-1", clock(), clock())
    return store


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_healthz_never_touches_the_database(app, client):
    class Unreachable:
        def __getattr__(self, name):
            raise AssertionError(f"/healthz used the store ({name})")

    app.extensions["bridge"].store = Unreachable()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_readyz_when_ready(client, beating):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "migrations": "ok", "database_write": "ok", "worker": "ok",
                                       "disk": "ok", "mappings": "ok"}


def test_readyz_waits_for_a_first_heartbeat(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["worker"].startswith("no heartbeat yet")
    assert "bridge worker" in response.json["checks"]["worker"]


def test_readyz_refuses_a_stale_heartbeat(client, beating, clock):
    clock.advance(seconds=120)
    assert client.get("/readyz").status_code == 200
    clock.advance(seconds=1)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["worker"].startswith("last heartbeat 121 s ago (limit 120 s")


def test_a_newer_beat_of_any_worker_counts(client, beating, store, clock):
    clock.advance(seconds=300)
    store.health.beat("worker-2", clock(), clock())
    assert client.get("/readyz").status_code == 200


def test_worker_check_can_be_turned_off(make_settings, clock):
    client = create_app(make_settings(BRIDGE_WORKER_STALE_SECONDS="0"), clock=clock).test_client()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "worker" not in response.json["checks"]


def test_readyz_refuses_a_nearly_full_disk(app, client, beating, make_settings):
    asked = []

    def usage(path):
        asked.append(path)
        return Usage(total=10_000 * MB, used=9_901 * MB, free=99 * MB)

    app.extensions["bridge.probes"].disk_usage = usage
    response = client.get("/readyz")
    assert response.status_code == 503
    disk = response.json["checks"]["disk"]
    assert "99 MB free" in disk and "BRIDGE_MIN_FREE_MB=100" in disk
    assert asked == [make_settings().db_path.resolve().parent]
    app.extensions["bridge.probes"].disk_usage = lambda path: Usage(10_000 * MB, 9_900 * MB, 100 * MB)
    assert client.get("/readyz").status_code == 200


def test_readyz_names_an_unreadable_disk(app, client, beating):
    def broken(path):
        raise PermissionError(13, "Permission denied")

    app.extensions["bridge.probes"].disk_usage = broken
    response = client.get("/readyz")
    assert response.status_code == 503 and "Permission denied" in response.json["checks"]["disk"]


def test_readyz_refuses_when_another_connection_holds_the_write_lock(client, beating, make_settings, monkeypatch):
    monkeypatch.setattr(health, "WRITE_CHECK_MS", 50)  # the same refusal, without waiting the full half second
    other = sqlite3.connect(make_settings().db_path, isolation_level=None)  # as another process would
    other.execute("BEGIN IMMEDIATE")
    try:
        response = client.get("/readyz")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert response.status_code == 503
    assert "database is locked" in response.json["checks"]["database_write"]
    assert client.get("/readyz").status_code == 200  # the probe's own transaction was rolled back


def test_heartbeat_writes_at_most_every_five_seconds(store, clock):
    heartbeat = Heartbeat(store, "worker-1", clock)
    heartbeat.beat()
    first = clock()
    clock.advance(seconds=4.9)
    heartbeat.beat()
    assert store.health.last_heartbeat() == first
    clock.advance(seconds=0.1)
    heartbeat.beat()
    assert store.health.last_heartbeat() == clock()


class OnePass(threading.Event):
    """A stop event that ends the worker loop at its first wait."""

    def wait(self, timeout=None):
        self.set()
        return True


def test_the_worker_beats_after_a_pass_of_every_lane(app, store, clock):
    make_worker(app, clock, connectors={}).run_once()
    assert store.health.last_heartbeat() == clock()


def test_a_failing_worker_lane_does_not_beat(app, store, clock, monkeypatch):
    worker = make_worker(app, clock, connectors={})
    monkeypatch.setattr(worker.lanes["slack"][0], "run_once", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        worker.run_once()
    assert store.health.last_heartbeat() is None
    worker.run(OnePass())  # the threaded loop survives the failing lane, and does not beat either
    assert store.health.last_heartbeat() is None


def test_readyz_names_a_mappings_folder_that_went_missing(make_settings, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("handoff.yaml", "hubspot-contact-to-salesforce-lead.yaml", "hubspot-contact-to-kintone.yaml"):
        (tmp_path / name).replace(moved / name)
    client = create_app(make_settings(BRIDGE_MAPPINGS=str(moved))).test_client()
    moved.rename(tmp_path / "nowhere")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "moved" in response.json["checks"]["mappings"]


def test_metrics_count_refusals(client):
    client.post("/webhooks/hubspot", data=b"[]")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_webhook_requests_total{outcome="401",source="hubspot"}' in body


def test_metrics_show_queues_and_leads_from_the_database(client, store):
    from tests.helpers import hubspot_event, post_hubspot

    post_hubspot(client, [hubspot_event(1), hubspot_event(2)])
    body = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_queue_items{queue="inbox",status="pending"} 2.0' in body
    assert 'bridge_queue_items{queue="outbox",status="dead"} 0.0' in body
    assert 'bridge_leads{state="handed_off"} 0.0' in body


def test_unknown_source_is_404_listing_known_ones(client):
    response = client.post("/webhooks/marketo", data=b"{}")
    assert response.status_code == 404 and "hubspot" in response.json["error"]
