"""What the admin surface keeps: mapping versions, the audit log, login throttling and sessions."""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlite_utils import Database

from bridge.kernel.clock import iso
from bridge.store.db import Connections


class LoginAttempt(NamedTuple):
    """A login attempt as the throttle saw it: reserved (the password may be checked), and the failures counted."""

    reserved: bool
    client_failures: int
    all_failures: int


class Admin:
    def __init__(self, conn: Connections):
        self.conn = conn

    def add_mapping_version(self, file: str, text: str, diff: str, author: str, now: datetime,
                            note: str | None = None) -> int:
        """Store a saved mapping text as the file's next version; returns the version number."""
        with self.conn.transaction() as db:
            latest = db.execute("SELECT MAX(version) FROM mapping_versions WHERE file = ?", [file]).fetchone()[0]
            version = (latest or 0) + 1
            db["mapping_versions"].insert({"file": file, "version": version, "text": text, "diff": diff,
                                           "author": author, "created_at": iso(now), "note": note})
            return version

    def mapping_versions(self, file: str) -> list[dict]:
        """A file's history, newest first, without the full texts."""
        return list(self.conn.db.query(
            "SELECT file, version, diff, author, created_at, note FROM mapping_versions WHERE file = ? "
            "ORDER BY version DESC", [file]))

    def mapping_version(self, file: str, version: int) -> dict | None:
        found = list(self.conn.db.query("SELECT * FROM mapping_versions WHERE file = ? AND version = ?",
                                        [file, version]))
        return found[0] if found else None

    def audit(self, actor: str, action: str, target: str | None, detail: str | None, now: datetime) -> None:
        with self.conn.transaction() as db:
            db["audit_log"].insert({"at": iso(now), "actor": actor, "action": action, "target": target,
                                    "detail": detail})

    def audit_entries(self, limit: int = 100) -> list[dict]:
        return list(self.conn.db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))

    def record_login_failure(self, client: str, now: datetime) -> None:
        with self.conn.transaction() as db:
            _insert_login_failure(db, client, now)

    def reserve_login_attempt(self, client: str, now: datetime, since: datetime, per_client: int,
                              overall: int) -> LoginAttempt:
        """Count the failures since `since` and, under both limits, record this attempt as a failure, in one
        write transaction: parallel attempts (threads or processes) queue on the lock, so each sees the others'
        reservations and no more than the limit ever reach the password check. The caller clears the
        client's failures when the password was right."""
        with self.conn.transaction() as db:
            mine = db.execute("SELECT COUNT(*) FROM login_failures WHERE client = ? AND at >= ?",
                              [client, iso(since)]).fetchone()[0]
            everyone = db.execute("SELECT COUNT(*) FROM login_failures WHERE at >= ?", [iso(since)]).fetchone()[0]
            reserved = mine < per_client and everyone < overall
            if reserved:
                _insert_login_failure(db, client, now)
            return LoginAttempt(reserved, mine, everyone)

    def login_failures_since(self, client: str, since: datetime) -> int:
        return self.conn.db.execute("SELECT COUNT(*) FROM login_failures WHERE client = ? AND at >= ?",
                               [client, iso(since)]).fetchone()[0]

    def clear_login_failures(self, client: str) -> None:
        with self.conn.transaction() as db:
            db.execute("DELETE FROM login_failures WHERE client = ?", [client])

    # -- admin sessions (the cookie holds a random id; `key` is its hash) ----------------------
    def add_admin_session(self, key: str, generation: str, client: str, now: datetime, expires_at: datetime,
                          idle_since: datetime) -> None:
        """Store a new session; on the way, delete sessions past their end or unused since `idle_since`."""
        with self.conn.transaction() as db:
            db.execute("DELETE FROM admin_sessions WHERE expires_at <= ? OR last_seen_at < ?",
                       [iso(now), iso(idle_since)])
            db["admin_sessions"].insert({"key": key, "generation": generation, "client": client,
                                         "created_at": iso(now), "last_seen_at": iso(now),
                                         "expires_at": iso(expires_at)})

    def admin_session(self, key: str) -> dict | None:
        rows = list(self.conn.db.query("SELECT * FROM admin_sessions WHERE key = ?", [key]))
        return rows[0] if rows else None

    def touch_admin_session(self, key: str, now: datetime) -> None:
        """Best effort: with the database busy or the disk full, the pages stay readable; a missed touch only
        makes the session look idle a minute longer."""
        with suppress(sqlite3.OperationalError), self.conn.transaction() as db:
            db.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE key = ?", [iso(now), key])

    def end_admin_session(self, key: str) -> None:
        with self.conn.transaction() as db:
            db.execute("DELETE FROM admin_sessions WHERE key = ?", [key])


def _insert_login_failure(db: Database, client: str, now: datetime) -> None:
    db["login_failures"].insert({"client": client, "at": iso(now)})
    db.execute("DELETE FROM login_failures WHERE at < ?", [iso(now - timedelta(days=1))])  # the window is minutes
