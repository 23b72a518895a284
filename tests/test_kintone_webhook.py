"""kintone webhooks at /webhooks/kintone."""

import pytest

from tests.helpers import kintone_notification, post_kintone


def test_valid_notification_is_stored(client, store):
    response = post_kintone(client, kintone_notification())
    assert response.status_code == 200 and response.json == {"received": 1, "new": 1}
    row = store.conn.db.execute("SELECT event_type, record_key, occurred_at FROM inbox").fetchone()
    assert row == ("UPDATE_RECORD", "app7:2", "2026-11-20T01:02:00.000Z")


def test_duplicate_ids_make_one_row(client, store):
    post_kintone(client, kintone_notification())
    assert post_kintone(client, kintone_notification()).json["new"] == 0
    assert store.inbox.counts()["pending"] == 1


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
def test_missing_or_wrong_token_is_401(client, store, token):
    response = post_kintone(client, kintone_notification(), token=token)
    assert response.status_code == 401
    assert store.inbox.counts()["pending"] == 0


def test_app_outside_allowlist_is_403_and_kept(client, store):
    response = post_kintone(client, kintone_notification(app_id="99"))
    assert response.status_code == 403 and "KINTONE_APP_IDS" in response.json["error"]
    assert store.inbox.counts()["pending"] == 0
    assert "app 99" in store.ingest.rejected()[0]["reason"]


def test_delete_notification_uses_record_id(client, store):
    payload = {"id": "d-1", "type": "DELETE_RECORD", "app": {"id": "8", "name": "x"}, "recordId": "5",
               "deletedAt": "2026-11-20T03:00:00Z"}
    assert post_kintone(client, payload).status_code == 200
    assert store.conn.db.execute("SELECT record_key FROM inbox").fetchone() == ("app8:5",)


@pytest.mark.parametrize(
    "payload, field",
    [
        (b"[1]", "body"),
        ({**kintone_notification(), "type": "EDIT_RECORD"}, "type"),
        ({k: v for k, v in kintone_notification().items() if k != "id"}, "id"),
        ({k: v for k, v in kintone_notification().items() if k != "record"}, "record"),
        ({"id": "x", "type": "DELETE_RECORD", "app": {"id": "7"}}, "recordId"),
        ({**kintone_notification(), "app": {"name": "no id"}}, "app.id"),
    ],
)
def test_malformed_notifications_are_400_naming_the_field(client, store, payload, field):
    response = post_kintone(client, payload)
    assert response.status_code == 400
    assert response.json["error"].startswith(field)
    assert len(store.ingest.rejected()) == 1


@pytest.mark.parametrize(
    "payload, field",
    [
        (kintone_notification(record_id="٢"), "record.$id"),  # Arabic-Indic digits: "٢".isdigit() is true
        (kintone_notification(record_id="２"), "record.$id"),  # full-width
        ({"id": "x", "type": "DELETE_RECORD", "app": {"id": "7"}, "recordId": "٢"}, "recordId"),
        ({"id": "x", "type": "DELETE_RECORD", "app": {"id": "7"}, "recordId": "2\n"}, "recordId"),
    ],
)
def test_record_ids_that_are_not_ascii_digits_are_400_naming_the_field(client, store, payload, field):
    response = post_kintone(client, payload)
    assert response.status_code == 400 and response.json["error"].startswith(field)
    assert store.inbox.counts()["pending"] == 0 and len(store.ingest.rejected()) == 1


def test_an_app_id_in_other_digits_is_not_the_allowed_app(client, store):
    response = post_kintone(client, kintone_notification(app_id="７"))
    assert response.status_code == 403 and store.inbox.counts()["pending"] == 0
