"""Fixtures for the admin tests: an app with the admin password set, a logged-in client, API headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.app import create_app
from tests.conftest import BASE_ENV

PASSWORD = "tokyo-marketing-ops-2026"
SECRET_KEY = "secret-key-0123456789abcdef-0123456789"
API_HEADERS = {"Authorization": f"Bearer {BASE_ENV['BRIDGE_ADMIN_TOKEN']}"}
SF_FILE = "hubspot-contact-to-salesforce-lead.yaml"
ADMIN_ENV = {"BRIDGE_ADMIN_PASSWORD": PASSWORD, "BRIDGE_SECRET_KEY": SECRET_KEY, "BRIDGE_ENV": "development"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def login(client: FlaskClient, password: str = PASSWORD):
    token = csrf_from(client.get("/admin/login").text)
    return client.post("/admin/login", data={"csrf_token": token, "password": password})


@pytest.fixture
def admin_app(make_settings, clock) -> Flask:
    return create_app(make_settings(**ADMIN_ENV), clock=clock)


@pytest.fixture
def mappings(admin_app) -> Path:
    """The app's mappings folder: a copy of the shipped files."""
    return admin_app.extensions["bridge"].settings.mappings_dir


@pytest.fixture
def anonymous(admin_app) -> FlaskClient:
    return admin_app.test_client()


@pytest.fixture
def admin(admin_app) -> FlaskClient:
    """A client logged in with the admin password."""
    client = admin_app.test_client()
    assert login(client).status_code == 303
    return client


@pytest.fixture
def csrf(admin):
    """The logged-in session's CSRF token."""
    return csrf_from(admin.get("/admin/audit").text)  # the cheapest page with a form (log out)


@pytest.fixture
def audit(admin_app):
    """The audit log's actions, oldest first."""
    return lambda: [(e["actor"], e["action"], e["target"]) for e in
                    reversed(admin_app.extensions["bridge"].store.admin.audit_entries())]
