"""Server-side admin sessions: the cookie holds only a random id, logout revokes it, sessions expire on time."""

from __future__ import annotations

import hashlib
import sqlite3

from bridge.admin.auth import SESSION_ID
from bridge.app import create_app
from tests.admin.conftest import ADMIN_ENV, PASSWORD, csrf_from, login

COOKIE = "bridge_admin"
JA = {"Accept-Language": "ja"}


def _cookie_data(app, client) -> dict:
    """What the signed cookie carries, as the server reads it."""
    return app.session_interface.get_signing_serializer(app).loads(client.get_cookie(COOKIE).value)


def _forged(app, client, data: dict) -> None:
    """Put a correctly signed cookie with `data` in the client (as someone holding BRIDGE_SECRET_KEY could)."""
    client.set_cookie(COOKIE, app.session_interface.get_signing_serializer(app).dumps(data))


def _sessions(app) -> list[dict]:
    return list(app.extensions["bridge"].store.conn.db["admin_sessions"].rows)


def _page_after_redirect(client, url: str = "/admin/mappings", headers: dict | None = None):
    response = client.get(url, headers=headers)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login"), url
    return client.get(response.headers["Location"], headers=headers)


def test_the_cookie_holds_only_a_random_session_id(admin_app):
    first, second = admin_app.test_client(), admin_app.test_client()
    assert login(first).status_code == 303 and login(second).status_code == 303
    one, two = _cookie_data(admin_app, first), _cookie_data(admin_app, second)
    assert set(one) <= {SESSION_ID, "csrf_token", "_permanent", "_flashes"}
    assert len(one[SESSION_ID]) >= 43 and one[SESSION_ID] != two[SESSION_ID]  # 32 random bytes, new each login
    generation = admin_app.extensions["bridge_admin"].password.generation()
    for value in (generation, PASSWORD):
        assert value not in first.get_cookie(COOKIE).value and value not in str(one)


def test_the_database_keeps_a_hash_of_the_session_id_not_a_usable_cookie(admin_app, admin):
    session_id = _cookie_data(admin_app, admin)[SESSION_ID]
    [row] = _sessions(admin_app)
    assert row["key"] == hashlib.sha256(session_id.encode()).hexdigest()
    assert session_id not in str(row)
    assert row["client"] == "127.0.0.1" and row["created_at"] == row["last_seen_at"] == "2026-11-21T09:00:00.000Z"
    assert row["expires_at"] == "2026-11-21T17:00:00.000Z"
    thief = admin_app.test_client()
    _forged(admin_app, thief, {SESSION_ID: row["key"]})  # even signed with the key, the stored value is no id
    assert thief.get("/admin/mappings").status_code == 302
    assert admin.get("/admin/mappings").status_code == 200


def test_logout_revokes_the_session_even_for_a_copied_cookie(admin_app, admin, csrf, audit):
    copied = admin.get_cookie(COOKIE).value
    assert admin.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
    assert _sessions(admin_app) == []
    replay = admin_app.test_client()
    replay.set_cookie(COOKIE, copied)
    assert "This session has ended" in _page_after_redirect(replay).text
    form = admin_app.test_client()
    form.set_cookie(COOKIE, copied)
    response = form.post("/admin/outbox/replay", data={"csrf_token": csrf, "all": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert audit()[-1] == ("admin", "logout", None)


def test_logout_on_one_worker_ends_the_session_on_the_others(make_settings, clock):
    settings = make_settings(**ADMIN_ENV)
    one, two = create_app(settings, clock=clock), create_app(settings, clock=clock)
    browser = one.test_client()
    assert login(browser).status_code == 303
    other = two.test_client()
    other.set_cookie(COOKIE, browser.get_cookie(COOKIE).value)
    assert other.get("/admin/mappings").status_code == 200  # the session is valid on both workers
    browser.post("/admin/logout", data={"csrf_token": csrf_from(browser.get("/admin/audit").text)})
    assert other.get("/admin/mappings").status_code == 302


def test_a_session_ends_eight_hours_after_login_however_busy(admin_app, admin, clock):
    for _ in range(7):
        clock.advance(hours=1, minutes=8)  # under the idle limit each time
        assert admin.get("/admin/mappings").status_code == 200
    clock.advance(minutes=4)  # 8 h after login
    page = _page_after_redirect(admin, headers=JA)
    assert "セッションの有効期限が切れました" in page.text and "8 時間" in page.text
    assert _sessions(admin_app) == []
    assert admin.get("/admin/mappings").status_code == 302  # still out, now simply asked to log in


def test_a_session_ends_after_two_hours_without_a_request(admin_app, admin, clock):
    clock.advance(hours=1, minutes=59)
    assert admin.get("/admin/mappings").status_code == 200
    clock.advance(hours=2)
    page = _page_after_redirect(admin)
    assert "Your session expired" in page.text and "after 2 hours without use" in page.text
    assert _sessions(admin_app) == []


def test_a_form_sent_after_expiry_is_not_applied_and_says_why(admin_app, admin, csrf, clock, mappings):
    before = (mappings / "handoff.yaml").read_text(encoding="utf-8")
    clock.advance(hours=3)
    response = admin.post("/admin/mappings/handoff.yaml", data={"csrf_token": csrf, "text": "x", "action": "save"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/login"
    assert "Your session expired" in admin.get("/admin/login").text
    assert (mappings / "handoff.yaml").read_text(encoding="utf-8") == before


def test_requests_keep_a_session_alive_with_at_most_one_write_a_minute(admin_app, admin, clock):
    clock.advance(seconds=30)
    admin.get("/admin/mappings")
    assert _sessions(admin_app)[0]["last_seen_at"] == "2026-11-21T09:00:00.000Z"  # not rewritten yet
    clock.advance(seconds=30)
    admin.get("/admin/mappings")
    assert _sessions(admin_app)[0]["last_seen_at"] == "2026-11-21T09:01:00.000Z"


def test_expired_sessions_are_deleted_when_someone_logs_in(admin_app, clock):
    for _ in range(3):
        assert login(admin_app.test_client()).status_code == 303
    clock.advance(hours=2, minutes=1)  # idle past the limit, never looked at again
    assert login(admin_app.test_client()).status_code == 303
    assert len(_sessions(admin_app)) == 1


def test_a_new_password_ends_every_session(make_settings, admin, clock):
    cookie = admin.get_cookie(COOKIE).value
    app = create_app(make_settings(**{**ADMIN_ENV, "BRIDGE_ADMIN_PASSWORD": "a-new-password-for-2027"}), clock=clock)
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    assert "the admin password was changed" in _page_after_redirect(other).text
    assert _sessions(app) == []  # the stale session is deleted once seen


def test_the_same_password_and_key_keep_sessions_across_restarts(make_settings, admin, clock):
    restarted = create_app(make_settings(**ADMIN_ENV), clock=clock).test_client()
    restarted.set_cookie(COOKIE, admin.get_cookie(COOKIE).value)
    assert restarted.get("/admin/mappings").status_code == 200


def test_each_session_has_its_own_csrf_token(admin_app, admin, csrf):
    admin.post("/admin/logout", data={"csrf_token": csrf})
    assert login(admin).status_code == 303
    fresh = csrf_from(admin.get("/admin/audit").text)
    assert fresh != csrf
    assert admin.post("/admin/outbox/replay", data={"csrf_token": csrf, "all": "1"}).status_code == 400
    assert admin.post("/admin/outbox/replay", data={"csrf_token": fresh, "all": "1"}).status_code == 303


def test_a_session_id_from_before_login_is_not_kept(admin_app):
    """Session fixation: an id planted in a visitor's cookie is replaced at login, never adopted."""
    client = admin_app.test_client()
    _forged(admin_app, client, {SESSION_ID: "planted-by-an-attacker"})
    assert login(client).status_code == 303
    assert _cookie_data(admin_app, client)[SESSION_ID] != "planted-by-an-attacker"


def test_the_signing_key_is_still_required_for_a_cookie(admin_app, admin):
    session_id = _cookie_data(admin_app, admin)[SESSION_ID]
    unsigned = admin_app.test_client()
    unsigned.set_cookie(COOKIE, session_id)
    assert unsigned.get("/admin/mappings").status_code == 302


def test_pages_stay_readable_when_the_session_cannot_be_touched(admin_app, admin, clock, monkeypatch):
    store = admin_app.extensions["bridge"].store

    def full_disk():
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.conn, "transaction", full_disk)
    clock.advance(minutes=5)  # due for a last_seen_at write, which fails
    assert admin.get("/admin/mappings").status_code == 200
