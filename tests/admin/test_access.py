"""Every admin page and API route refuses callers who have not logged in, however the routes grow."""

from __future__ import annotations

import os
import stat

import pytest

from bridge.admin.auth import KEY_FILE_SUFFIX, session_secret
from bridge.app import create_app
from tests.admin.conftest import ADMIN_ENV, API_HEADERS, PASSWORD, SF_FILE, csrf_from, login

PUBLIC = {"admin.login", "admin.static"}  # the login form and its stylesheet
SAMPLE_VALUES = {"name": SF_FILE, "version": 1, "filename": "admin.css", "lead_id": 1, "run_id": 1}


def _routes(app, blueprint: str):
    """(method, url, endpoint) for every rule of a blueprint, with placeholder values filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] != blueprint:
            continue
        url = rule.build({arg: SAMPLE_VALUES[arg] for arg in rule.arguments})[1]
        found += [(method, url, rule.endpoint) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    assert found, f"no routes registered for blueprint {blueprint}"
    return found


def test_the_route_lists_cover_the_pages_and_the_api(admin_app):
    pages = {endpoint for _, _, endpoint in _routes(admin_app, "admin")}
    api = {endpoint for _, _, endpoint in _routes(admin_app, "admin_api")}
    assert {"admin.mappings", "admin.edit", "admin.submit", "admin.history", "admin.restore", "admin.audit"} <= pages
    assert {"admin_api.list_files", "admin_api.put_file", "admin_api.restore_version", "admin_api.audit"} <= api


def test_every_admin_page_sends_strangers_to_the_login_form(admin_app, anonymous):
    for method, url, endpoint in _routes(admin_app, "admin"):
        if endpoint in PUBLIC:
            continue
        response = anonymous.open(url, method=method)
        assert response.status_code in (302, 303), (method, url)
        assert response.headers["Location"].startswith("/admin/login"), (method, url)


def test_every_api_route_answers_401_without_the_token(admin_app, anonymous):
    for method, url, _ in _routes(admin_app, "admin_api"):
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic x"}):
            response = anonymous.open(url, method=method, headers=headers, json={"text": "x"})
            assert response.status_code == 401, (method, url, headers)
            assert "BRIDGE_ADMIN_TOKEN" in response.json["error"]
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_login_form_and_stylesheet_are_public(anonymous):
    assert anonymous.get("/admin/login").status_code == 200
    assert anonymous.get("/admin/static/admin.css").status_code == 200


def test_a_logged_in_admin_reaches_every_page(admin_app, admin):
    for method, url, endpoint in _routes(admin_app, "admin"):
        if method == "GET" and endpoint not in ("admin.login", "admin.home"):
            assert admin.get(url).status_code in (200, 404), url  # 404: no version 1 yet


def test_pages_answer_503_naming_the_setting_when_no_password_is_set(make_settings):
    app = create_app(make_settings(BRIDGE_ADMIN_PASSWORD=None, BRIDGE_SECRET_KEY=None))
    client = app.test_client()
    for method, url, endpoint in _routes(app, "admin"):
        if endpoint == "admin.static":
            continue
        response = client.open(url, method=method)
        assert response.status_code == 503, (method, url)
        assert "BRIDGE_ADMIN_PASSWORD" in response.text


def test_api_answers_503_naming_the_setting_when_no_token_is_set(make_settings):
    app = create_app(make_settings(BRIDGE_ADMIN_TOKEN=None, **ADMIN_ENV))
    response = app.test_client().get("/api/admin/mappings", headers=API_HEADERS)
    assert response.status_code == 503
    assert "BRIDGE_ADMIN_TOKEN" in response.json["error"]


def test_session_cookie_is_httponly_lax_and_secure_outside_development(make_settings):
    app = create_app(make_settings(**{**ADMIN_ENV, "BRIDGE_ENV": "production"}))
    cookie = app.test_client().get("/admin/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_session_cookie_is_not_secure_in_development(admin_app):
    cookie = admin_app.test_client().get("/admin/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_logout_ends_the_session(admin, csrf, audit):
    assert admin.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
    assert admin.get("/admin/mappings").status_code == 302
    assert audit()[-1] == ("admin", "logout", None)


def test_every_admin_page_refuses_a_cookie_kept_from_before_logout(admin_app, admin, csrf):
    kept = admin.get_cookie("bridge_admin").value
    admin.post("/admin/logout", data={"csrf_token": csrf})
    for method, url, endpoint in _routes(admin_app, "admin"):
        if endpoint in PUBLIC:
            continue
        replay = admin_app.test_client()
        replay.set_cookie("bridge_admin", kept)
        response = replay.open(url, method=method, data={"csrf_token": csrf})
        assert response.status_code in (302, 303), (method, url)
        assert response.headers["Location"].startswith("/admin/login"), (method, url)


def test_a_new_password_logs_everyone_out(make_settings, admin):
    cookie = admin.get_cookie("bridge_admin")
    app = create_app(make_settings(**{**ADMIN_ENV, "BRIDGE_ADMIN_PASSWORD": "a-new-password-for-2027"}))
    other = app.test_client()
    other.set_cookie("bridge_admin", cookie.value)
    assert other.get("/admin/mappings").status_code == 302


def test_login_only_redirects_inside_the_admin_pages(admin_app):
    for target, expected in (("//evil.example/x", "/admin/mappings"), ("https://evil.example/", "/admin/mappings"),
                             ("/\\evil.example", "/admin/mappings"), ("/admin/audit", "/admin/audit")):
        client = admin_app.test_client()
        token = csrf_from(client.get("/admin/login").text)
        response = client.post("/admin/login", data={"csrf_token": token, "password": PASSWORD, "next": target})
        assert response.headers["Location"] == expected, target


def test_the_password_is_not_in_the_settings_repr(admin_app):
    assert PASSWORD not in repr(admin_app.extensions["bridge"].settings)


@pytest.mark.parametrize("env", [{"BRIDGE_SECRET_KEY": None}])
def test_without_a_secret_key_every_worker_shares_one_stored_key(make_settings, env):
    settings = make_settings(**{**ADMIN_ENV, **env})
    first, second = session_secret(settings), session_secret(settings)
    assert first == second and len(first) >= 32
    path = settings.db_path.with_name(settings.db_path.name + KEY_FILE_SUFFIX)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    one, two = create_app(settings).test_client(), create_app(settings).test_client()
    assert login(one).status_code == 303
    two.set_cookie("bridge_admin", one.get_cookie("bridge_admin").value)
    assert two.get("/admin/mappings").status_code == 200  # the other "worker" accepts the session
