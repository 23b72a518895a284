"""Logging in: the password, CSRF on every form, and the limit on failed attempts per address."""

from __future__ import annotations

from datetime import timedelta

from tests.admin.conftest import PASSWORD, SF_FILE, csrf_from, login
from tests.admin.test_access import _routes


def test_login_with_the_password_is_audited(anonymous, audit):
    response = login(anonymous)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/mappings"
    assert audit() == [("admin", "login", None)]


def test_a_wrong_password_is_refused_explained_and_audited(anonymous, audit):
    response = login(anonymous, "not-the-password")
    assert response.status_code == 401
    assert "The password is wrong" in response.text and "5 failed attempts" in response.text
    assert audit() == [("admin", "login_failed", None)]
    assert anonymous.get("/admin/mappings").status_code == 302


def test_every_admin_form_without_the_csrf_token_is_refused(admin_app, admin, csrf, mappings):
    before = (mappings / SF_FILE).read_text()
    for method, url, _ in _routes(admin_app, "admin"):
        if method != "POST":
            continue
        for token in (None, "forged-token"):
            data = {"text": "x", "action": "save"} | ({"csrf_token": token} if token else {})
            response = admin.post(url, data=data)
            assert response.status_code == 400, (url, token)
            assert "security token" in response.text
    assert (mappings / SF_FILE).read_text() == before
    assert admin.get("/admin/mappings").status_code == 200  # still logged in: logout was refused too


def test_the_login_form_needs_its_csrf_token(anonymous):
    anonymous.get("/admin/login")
    response = anonymous.post("/admin/login", data={"password": PASSWORD})
    assert response.status_code == 400
    assert anonymous.get("/admin/mappings").status_code == 302


def test_five_failures_in_fifteen_minutes_block_the_address(anonymous, clock, audit):
    for _ in range(5):
        assert login(anonymous, "wrong-password-guess").status_code == 401
    blocked = login(anonymous)  # even the right password: the address is paused
    assert blocked.status_code == 429
    assert "Wait 15 minutes" in blocked.text and blocked.headers["Retry-After"] == "900"
    assert [action for _, action, _ in audit()] == ["login_failed"] * 5
    clock.now += timedelta(minutes=16)
    assert login(anonymous).status_code == 303


def test_other_addresses_are_not_blocked(admin_app, anonymous):
    for _ in range(5):
        login(anonymous, "wrong-password-guess")
    other = admin_app.test_client()
    token = csrf_from(other.get("/admin/login", environ_base={"REMOTE_ADDR": "10.1.2.3"}).text)
    response = other.post("/admin/login", data={"csrf_token": token, "password": PASSWORD},
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 303


def test_a_successful_login_clears_the_failures(admin_app, anonymous):
    for _ in range(4):
        login(anonymous, "wrong-password-guess")
    assert login(anonymous).status_code == 303
    again = admin_app.test_client()  # same address: without the reset, the next failure would block it
    for _ in range(4):
        assert login(again, "wrong-password-guess").status_code == 401
    assert login(again).status_code == 303


def test_behind_a_proxy_failures_count_per_forwarded_client(make_settings, clock):
    from bridge.app import create_app
    from tests.admin.conftest import ADMIN_ENV

    app = create_app(make_settings(**ADMIN_ENV, BRIDGE_PROXIES="1"))
    app.extensions["bridge_admin"].clock = clock
    proxy = {"REMOTE_ADDR": "10.0.0.1"}  # every request arrives from the proxy
    attacker, colleague = app.test_client(), app.test_client()
    for _ in range(5):
        token = csrf_from(attacker.get("/admin/login", environ_base=proxy,
                                       headers={"X-Forwarded-For": "203.0.113.9"}).text)
        attacker.post("/admin/login", data={"csrf_token": token, "password": "wrong-password-guess"},
                      environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"})
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    token = csrf_from(colleague.get("/admin/login", environ_base=proxy, headers=forwarded).text)
    response = colleague.post("/admin/login", data={"csrf_token": token, "password": PASSWORD}, environ_base=proxy,
                              headers=forwarded)
    assert response.status_code == 303
