"""Shared fixtures: settings on a temporary database, an app and its client; no network beyond loopback."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path

import jinja2
import pytest
from flask import Flask
from werkzeug.routing import Rule

# Keep compiled test and Bridge modules between runs, even where the environment sets PYTHONDONTWRITEBYTECODE:
# without it pytest rewrites the asserts of every test module, and Python compiles every Bridge module, in each
# xdist worker on every run: about half the default suite's time (44 s instead of 23 s on 2 cores). __pycache__ is
# git-ignored. Set before Bridge or any test module is imported (the libraries above come compiled by pip).
sys.dont_write_bytecode = False

# Bridge itself is imported inside the fixtures: pytest-xdist's controller loads this file too but runs no test,
# and the workers start only once it is ready.

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
SF_TOKEN = "sf-token-0123456789abcdef"
SF_ORG = "00D5g000004Z1xYEAS"
KINTONE_TOKEN = "kintone-token-0123456789"

BASE_ENV = {
    "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
    "SALESFORCE_ORG_ID": SF_ORG,
    "SALESFORCE_WEBHOOK_TOKEN": SF_TOKEN,
    "KINTONE_WEBHOOK_TOKEN": KINTONE_TOKEN,
    "KINTONE_APP_IDS": "7,8",
    "BRIDGE_ACTIVITIES_TOKEN": "activities-token-0123456789",  # one token per API, each its own value
    "BRIDGE_LEADS_TOKEN": "leads-token-0123456789abcdef",
    "BRIDGE_ADMIN_TOKEN": "admin-token-0123456789abcdef",
}

#: The default "now" of every test app: fixed, so no test depends on today's date.
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


class Clock:
    """A clock tests move by hand: the app, the worker and the signatures of test deliveries all read it."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


SHIPPED_MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    """Unit tests never reach the network: only loopback and Unix sockets may be connected to."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            allowed = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise ConnectionRefusedError(f"tests may not connect to {host}: mock it with `responses`")
    return _real_connect(self, address)


def pytest_addoption(parser):
    parser.addoption("--clock-ahead-days", type=int, default=0,
                     help="run with the wall clock moved this many days ahead: no test may depend on today's date")


@pytest.fixture(autouse=True, scope="session")
def _clock_ahead(request):
    days = request.config.getoption("--clock-ahead-days")
    if not days:
        yield
        return
    import time_machine  # moves time.time(), datetime.now() and friends in this process, ticking on

    with time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True):
        yield


@pytest.fixture(autouse=True, scope="session")
def _plugin_connectors_looked_up_once():
    """The installed packages do not change during a run: look up the connector entry points once (a scan of
    every installed distribution, and every app build and settings check asks); tests of the lookup patch it."""
    from connectors import registry

    found = entry_points(group=registry.ENTRY_POINT_GROUP)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "entry_points",
                      lambda group: found if group == registry.ENTRY_POINT_GROUP else entry_points(group=group))
        yield


class _TemplatesCompiledOnce(jinja2.BytecodeCache):
    """Jinja's hook for keeping compiled templates: here in memory, shared by every app of the run (each app has its
    own environment and would compile every template again). Keyed on the template and its source's checksum."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])  # ignored when the source's checksum differs

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(autouse=True, scope="session")
def _templates_compiled_once():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": _TemplatesCompiledOnce()})
        yield


@pytest.fixture(autouse=True, scope="session")
def _url_builders_compiled_once():
    """Werkzeug writes and compiles two URL builders per route of every app it makes, and the tests make hundreds
    of apps with the same routes: compile each builder once. A builder depends only on what the key holds (its
    route's pattern, parsed trace and defaults, and whether it appends unknown values); it reads the converters
    through the rule it is bound to, so sharing it between apps is safe."""
    real = Rule._compile_builder
    builders: dict[tuple, object] = {}

    def compile_once(rule: Rule, append_unknown: bool = True):
        key = (rule.rule, tuple(rule._trace), repr(sorted((rule.defaults or {}).items())), append_unknown)
        if key not in builders:
            builders[key] = real(rule, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", compile_once)
        yield


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch) -> None:
    """Password hashing at a tiny scrypt cost (production's takes tens of ms a hash): the same code, so a wrong
    password is still refused; tests/admin/test_login.py checks production's cost itself."""
    from bridge.admin import auth

    monkeypatch.setattr(auth, "SCRYPT_COST", auth.ScryptCost(n=2**4, r=1))


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory) -> Path:
    """An empty database with every migration applied, made once: copying it is much cheaper than migrating
    for each test (tests of the migrations themselves open their own Store on a new path)."""
    from bridge.store import Store

    path = tmp_path_factory.mktemp("migrated") / "bridge.db"
    store = Store(path)
    store.upgrade()
    store.close()  # the last connection closing folds the WAL back in: the one file is the whole database
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def make_settings(tmp_path: Path, migrated_database: Path):
    """Settings from BASE_ENV plus overrides (None removes a variable), on a fresh, migrated database.

    BRIDGE_MAPPINGS is the temporary folder, holding a copy of the shipped mappings.
    """
    for shipped in SHIPPED_MAPPINGS.glob("*.yaml"):
        shutil.copy(shipped, tmp_path / shipped.name)
    database = tmp_path / "bridge.db"

    def make(**overrides):
        if "BRIDGE_DB" not in overrides and not database.exists():
            shutil.copy(migrated_database, database)  # keeps its 0600 mode
        env = {**BASE_ENV, "BRIDGE_DB": str(database), "BRIDGE_MAPPINGS": str(tmp_path)}
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        from bridge.config import load_settings

        return load_settings(env, dotenv=None)

    return make


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(make_settings, clock):
    from bridge.app import create_app

    return create_app(make_settings(), clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["bridge"].store
