"""Logging in: the password, CSRF on every form, and the limit on failed attempts per address."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from bridge.admin import auth
from bridge.app import create_app
from bridge.store import Store
from tests.admin.conftest import ADMIN_ENV, PASSWORD, SF_FILE, csrf_from, login
from tests.admin.test_access import _routes

PRODUCTION_SCRYPT_COST = auth.SCRYPT_COST  # read at import, before the admin fixtures lower it


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
    app = create_app(make_settings(**ADMIN_ENV, BRIDGE_PROXIES="1"), clock=clock)
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


def test_logins_pause_for_everyone_after_many_failures_from_many_addresses(admin_app, admin, clock, monkeypatch):
    store = admin_app.extensions["bridge"].store
    for number in range(auth.MAX_FAILED_LOGINS_ALL):  # an attacker rotating addresses, a guess from each
        store.admin.record_login_failure(f"203.0.113.{number}", clock() - timedelta(minutes=10))
    checked, real_scrypt = [], auth._scrypt
    monkeypatch.setattr(auth, "_scrypt", lambda password, salt: checked.append(password) or real_scrypt(password, salt))
    stranger = admin_app.test_client()
    token = csrf_from(stranger.get("/admin/login", environ_base={"REMOTE_ADDR": "198.51.100.1"}).text)
    refused = stranger.post("/admin/login", data={"csrf_token": token, "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "198.51.100.1"}, headers={"Accept-Language": "ja"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "900"
    assert "すべてのログインを一時停止しています" in refused.text and "15 分待って" in refused.text
    assert checked == []  # the password was not even checked
    assert admin.get("/admin/mappings").status_code == 200  # who is logged in keeps working
    clock.advance(minutes=6)  # the failures leave the 15-minute window
    english = admin_app.test_client()
    assert "Logins are paused for everyone" not in login(english).text
    assert english.get("/admin/mappings").status_code == 200


def test_production_checks_passwords_with_scrypt_n_2_14_r_8(monkeypatch):
    assert auth.SCRYPT_COST.n < 2**14  # the admin tests run at a cheap cost (conftest) ...
    cost = PRODUCTION_SCRYPT_COST  # ... the module's own is production's
    assert (cost.n, cost.r, cost.p) == (2**14, 8, 1)
    monkeypatch.setattr(auth, "SCRYPT_COST", PRODUCTION_SCRYPT_COST)
    salt = bytes(16)
    hashed = auth.PasswordHash.of(PASSWORD, salt)
    assert hashed.digest == hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert hashed.matches(PASSWORD) and not hashed.matches(PASSWORD.upper())


GUESSES = 40


@pytest.fixture
def two_workers(make_settings, clock) -> Iterator[list[str]]:
    """Two apps on one database, each served by a threaded werkzeug server on loopback: like two gunicorn
    workers, they share nothing but the database file."""
    settings = make_settings(**ADMIN_ENV)
    servers = [make_server("127.0.0.1", 0, create_app(settings, clock=clock), threaded=True,
                           request_handler=_QuietHandler) for _ in range(2)]
    threads = [threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    yield [f"http://127.0.0.1:{server.server_port}" for server in servers]
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.mark.slow  # real sockets on loopback; well under a second
def test_forty_parallel_wrong_passwords_get_exactly_five_checks(two_workers, make_settings, clock, monkeypatch):
    """The two apps have separate Stores (no shared Python lock), so only the database transaction can keep
    the count exact: as between gunicorn's worker processes."""
    checked: list[str] = []
    real_scrypt = auth._scrypt

    def counting_scrypt(password: str, salt: bytes) -> bytes:
        checked.append(password)
        return real_scrypt(password, salt)

    monkeypatch.setattr(auth, "_scrypt", counting_scrypt)  # after start-up: only login checks are counted
    ready = threading.Barrier(GUESSES)

    def guess(number: int) -> tuple[int, str, str]:
        language = "ja" if number % 2 else "en"
        with requests.Session() as browser:
            browser.headers["Accept-Language"] = language
            base = two_workers[number % 2]
            token = csrf_from(browser.get(f"{base}/admin/login", timeout=10).text)
            ready.wait(timeout=10)  # every guess is sent at once
            answer = browser.post(f"{base}/admin/login", data={"csrf_token": token, "password": f"guess-{number}"},
                                  timeout=30)
            return answer.status_code, language, answer.text

    with ThreadPoolExecutor(GUESSES) as pool:
        answers = list(pool.map(guess, range(GUESSES)))

    assert Counter(status for status, _, _ in answers) == {401: 5, 429: 35}
    assert len(checked) == 5
    store = Store(make_settings(**ADMIN_ENV).db_path)
    assert store.admin.login_failures_since("127.0.0.1", clock() - auth.FAILED_LOGIN_WINDOW) == 5
    for status, language, text in answers:
        if status == 429:
            assert ("ログインの失敗が多すぎます" if language == "ja" else "Too many failed logins") in text
