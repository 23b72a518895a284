"""The database (with its -wal and -shm files) and the fallback session key are readable by their owner only."""

import os
import stat

import pytest

from bridge.admin.auth import session_secret
from bridge.store import Store
from tests.conftest import T0


@pytest.fixture
def permissive_umask():
    """The usual umask, which makes new files world-readable (0644) unless Bridge says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_is_created_0600_with_its_wal_and_shm(tmp_path, permissive_umask):
    path = tmp_path / "bridge.db"
    store = Store(path)
    store.upgrade()
    store.admin.audit("cli", "test", None, None, T0)  # a write, so the -wal and -shm files exist
    files = [path, tmp_path / "bridge.db-wal", tmp_path / "bridge.db-shm"]
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_an_existing_database_keeps_the_mode_its_owner_chose(tmp_path, permissive_umask):
    path = tmp_path / "bridge.db"
    Store(path).upgrade()
    os.chmod(path, 0o640)  # e.g. readable by a backup group
    Store(path).upgrade()
    assert mode(path) == 0o640


def test_the_fallback_session_key_file_is_0600(make_settings, tmp_path, permissive_umask):
    settings = make_settings(BRIDGE_ADMIN_PASSWORD="tokyo-marketing-ops-2026", BRIDGE_SECRET_KEY=None)
    assert session_secret(settings)
    assert mode(tmp_path / "bridge.db.secret-key") == 0o600
