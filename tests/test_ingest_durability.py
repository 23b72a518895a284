"""A 2xx only after commit: when the database cannot commit, senders get 503 and retry."""

import sqlite3

import pytest

from bridge.app import create_app
from tests.helpers import hubspot_event, kintone_notification, post_hubspot, post_kintone


@pytest.fixture
def locked_client(make_settings):
    settings = make_settings(BRIDGE_DB_BUSY_TIMEOUT_MS="50")
    app = create_app(settings)
    # Another process holds the write lock (e.g. a long backup): our commit cannot happen.
    holder = sqlite3.connect(settings.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield app.test_client(), app.extensions["bridge"].store
    holder.execute("ROLLBACK")
    holder.close()


def test_store_failure_answers_503_not_2xx(locked_client):
    client, _ = locked_client
    response = post_hubspot(client, [hubspot_event(1)])
    assert response.status_code == 503
    assert "retry" in response.json["error"]


def test_rejected_delivery_that_cannot_be_kept_is_503(locked_client):
    client, _ = locked_client
    assert post_kintone(client, {**kintone_notification(), "type": "NOPE"}).status_code == 503


def test_retry_after_the_store_recovers_is_committed(make_settings):
    settings = make_settings(BRIDGE_DB_BUSY_TIMEOUT_MS="50")
    app = create_app(settings)
    client, store = app.test_client(), app.extensions["bridge"].store
    holder = sqlite3.connect(settings.db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    assert post_hubspot(client, [hubspot_event(7)]).status_code == 503
    holder.execute("ROLLBACK")
    assert post_hubspot(client, [hubspot_event(7)]).status_code == 200
    assert store.inbox.counts()["pending"] == 1
