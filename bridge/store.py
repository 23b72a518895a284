"""The only module that speaks SQL: one SQLite file in WAL mode, reached through sqlite-utils."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from bridge.clock import iso, utcnow
from bridge.errors import StoreUnavailable
from bridge.migrations import migrations
from connectors.base import InboxEvent

STATUSES = ("pending", "processing", "done", "dead")


class LeaseLost(Exception):
    """Another worker took over the event (our lease expired): this worker's result must be discarded."""


@dataclass(frozen=True)
class ClaimedEvent:
    id: int
    source: str
    event_type: str
    record_key: str
    occurred_at: str
    body: str
    attempts: int


@dataclass
class _PendingBatch:
    """One delivery's rows waiting for a group commit, and what became of them."""

    rows: list[tuple]
    settled: bool = False
    new: int = 0
    error: sqlite3.Error | None = None


class Store:
    """Typed operations on the database; each thread (and each forked process) gets its own connection."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, synchronous: str = "FULL"):
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous  # FULL: a commit is on disk before we acknowledge it
        self._local = threading.local()
        # Threads of one process queue here for the write lock: SQLite's own busy handler would make
        # them sleep in 1-50 ms steps instead, which caps ingest throughput under concurrency.
        self._write_lock = threading.Lock()
        self._pending_mutex = threading.Lock()
        self._pending: list[_PendingBatch] = []

    @property
    def db(self) -> Database:
        cached = getattr(self._local, "db", None)
        if cached is not None and self._local.pid == os.getpid():
            return cached
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        self._local.db, self._local.pid = Database(conn), os.getpid()
        return self._local.db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction that takes the lock up front (BEGIN IMMEDIATE), so it never fails halfway on BUSY."""
        with self._write_lock, self._begin_immediate() as db:
            yield db

    @contextmanager
    def _begin_immediate(self) -> Iterator[Database]:
        db = self.db
        self._acquire_write_lock(db)
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.execute("COMMIT")

    def _acquire_write_lock(self, db: Database) -> None:
        """BEGIN IMMEDIATE, waiting for another process's writer in 0.1-1 ms steps up to the busy timeout.

        SQLite's built-in busy handler sleeps 1, 2, 5, 10 … ms between tries; a commit here takes about
        0.2 ms, so those sleeps, not the disk, would bound ingest when two gunicorn workers write at once.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.0001
        db.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() + pause > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")

    # -- schema -------------------------------------------------------------------------------
    def upgrade(self) -> list[str]:
        """Apply pending migrations; safe when several processes start at once."""
        with self.transaction() as db:  # serialises concurrent upgrades; migrations nest as savepoints
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending

    def pending_migrations(self) -> list[str]:
        return [m.name for m in migrations.pending(self.db)]

    def ping(self) -> None:
        self.db.execute("SELECT 1").fetchone()

    # -- ingest -------------------------------------------------------------------------------
    def add_events(self, events: list[InboxEvent], received_at: datetime) -> int:
        """Commit a delivery's events; duplicates are ignored. Returns how many were new.

        Group commit: concurrent deliveries in this process queue up, and whichever thread gets the
        write lock commits all queued ones in one transaction, so one fsync covers many requests.
        Each caller still returns only after the commit that holds its events.
        """
        now = iso(received_at)
        batch = _PendingBatch(
            [(e.source, e.event_type, e.dedupe_key, e.record_key, iso(e.occurred_at), now, e.body, now)
             for e in events]
        )
        with self._pending_mutex:
            self._pending.append(batch)
        with self._write_lock:
            if not batch.settled:
                with self._pending_mutex:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        if batch.error is not None:
            raise StoreUnavailable(f"could not commit {len(batch.rows)} event(s): {batch.error}") from batch.error
        return batch.new

    def _commit_group(self, group: list[_PendingBatch]) -> None:
        """Insert every queued delivery in one transaction (the caller holds the write lock)."""
        new_counts = []
        try:
            with self._begin_immediate() as db:
                for batch in group:
                    before = db.conn.total_changes
                    db.conn.executemany(
                        "INSERT OR IGNORE INTO inbox (source, event_type, dedupe_key, record_key, occurred_at,"
                        " received_at, body, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        batch.rows,
                    )
                    new_counts.append(db.conn.total_changes - before)
        except sqlite3.Error as error:
            for batch in group:
                batch.error, batch.settled = error, True
            return
        for batch, new in zip(group, new_counts, strict=True):
            batch.new, batch.settled = new, True

    def add_rejected(self, source: str, reason: str, body: bytes, content_type: str | None,
                     received_at: datetime) -> int:
        try:
            with self.transaction() as db:
                db["rejected"].insert(
                    {"source": source, "received_at": iso(received_at), "reason": reason,
                     "content_type": content_type, "body": body}
                )
                return db["rejected"].last_pk
        except sqlite3.Error as error:
            raise StoreUnavailable(f"could not keep the rejected delivery: {error}") from error

    def rejected(self, limit: int = 50) -> list[dict]:
        return list(self.db.query("SELECT * FROM rejected ORDER BY id DESC LIMIT ?", [limit]))

    # -- worker -------------------------------------------------------------------------------
    def claim(self, owner: str, now: datetime, lease_seconds: int, max_records: int) -> list[ClaimedEvent]:
        """Lease every open event of up to `max_records` records that are ready and not leased by anyone else.

        A record is ready when none of its pending events is waiting for a retry (so a new event never
        overtakes an older one that failed) and no live lease holds any of its events.
        """
        now_s, expires = iso(now), iso(now + timedelta(seconds=lease_seconds))
        with self.transaction() as db:
            db.execute(
                "UPDATE inbox SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
                "last_error = 'lease expired: the worker stopped mid-event' "
                "WHERE status = 'processing' AND lease_expires_at <= ?",
                [now_s],
            )
            rows = db.execute(
                """
                UPDATE inbox SET status = 'processing', lease_owner = :owner, lease_expires_at = :expires,
                       attempts = attempts + 1
                WHERE status = 'pending' AND (source, record_key) IN (
                    SELECT source, record_key FROM inbox AS i
                    WHERE status = 'pending'
                      AND NOT EXISTS (SELECT 1 FROM inbox AS p WHERE p.status = 'processing'
                                      AND p.source = i.source AND p.record_key = i.record_key)
                    GROUP BY source, record_key
                    HAVING MAX(next_attempt_at) <= :now
                    ORDER BY MIN(id) LIMIT :limit)
                RETURNING id, source, event_type, record_key, occurred_at, body, attempts
                """,
                {"owner": owner, "expires": expires, "now": now_s, "limit": max_records},
            ).fetchall()
        events = [ClaimedEvent(*row) for row in rows]
        return sorted(events, key=lambda e: (e.source, e.record_key, e.occurred_at, e.id))

    def complete(self, db: Database, event_id: int, owner: str, now: datetime) -> None:
        """Mark done inside the handler's transaction; raise LeaseLost if another worker owns it now."""
        cursor = db.execute(
            "UPDATE inbox SET status = 'done', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL, "
            "last_error = NULL WHERE id = ? AND status = 'processing' AND lease_owner = ?",
            [iso(now), event_id, owner],
        )
        if cursor.rowcount != 1:
            raise LeaseLost(f"event {event_id} is no longer leased by {owner}")

    def fail(self, event_id: int, owner: str, error: str, retry_at: datetime | None) -> None:
        """Schedule a retry at `retry_at`, or bury the event as a dead letter when `retry_at` is None."""
        with self.transaction() as db:
            db.execute(
                "UPDATE inbox SET status = ?, next_attempt_at = COALESCE(?, next_attempt_at), last_error = ?, "
                "lease_owner = NULL, lease_expires_at = NULL, finished_at = ? "
                "WHERE id = ? AND lease_owner = ?",
                ["dead" if retry_at is None else "pending", iso(retry_at) if retry_at else None, error[:2000],
                 None if retry_at else iso(utcnow()), event_id, owner],
            )

    def release(self, event_ids: Iterable[int], owner: str, retry_at: datetime) -> None:
        """Hand back claimed events that were not attempted (they wait behind a failed one of their record)."""
        ids = list(event_ids)
        if not ids:
            return
        with self.transaction() as db:
            db.execute(  # only "?" placeholders are formatted into these statements
                f"UPDATE inbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = ?, "  # noqa: S608
                f"lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ? "
                f"AND id IN ({', '.join('?' * len(ids))})",
                [iso(retry_at), owner, *ids],
            )

    # -- inspection and replay ----------------------------------------------------------------
    def inbox_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(dict(self.db.execute("SELECT status, COUNT(*) FROM inbox GROUP BY status").fetchall()))
        return counts

    def events(self, status: str, limit: int = 50) -> list[dict]:
        return list(
            self.db.query(
                "SELECT id, source, event_type, record_key, occurred_at, received_at, attempts, last_error, "
                "finished_at FROM inbox WHERE status = ? ORDER BY id LIMIT ?",
                [status, limit],
            )
        )

    def replay(self, event_ids: Iterable[int] | None, now: datetime) -> int:
        """Put dead letters back in the queue with fresh attempts: given ids, or all when None."""
        where, params = "status = 'dead'", [iso(now)]
        if event_ids is not None:
            ids = list(event_ids)
            where += f" AND id IN ({', '.join('?' * len(ids))})" if ids else " AND 0"
            params += ids
        with self.transaction() as db:
            return db.execute(
                f"UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL "  # noqa: S608
                f"WHERE {where}",
                params,
            ).rowcount

    # -- normalised changes (the worker's default handler) -------------------------------------
    def record_change(self, db: Database, inbox_id: int, source: str, record_key: str, change_type: str,
                      occurred_at: str, fields_json: str, now: datetime) -> None:
        db["changes"].insert(
            {"inbox_id": inbox_id, "source": source, "record_key": record_key, "change_type": change_type,
             "occurred_at": occurred_at, "fields": fields_json, "recorded_at": iso(now)}
        )

    def changes(self, record_key: str | None = None, limit: int = 100) -> list[dict]:
        if record_key is None:
            return list(self.db.query("SELECT * FROM changes ORDER BY id LIMIT ?", [limit]))
        return list(
            self.db.query("SELECT * FROM changes WHERE record_key = ? ORDER BY id LIMIT ?", [record_key, limit])
        )

    # -- mapping versions, audit log, login throttling (admin) ---------------------------------
    def add_mapping_version(self, file: str, text: str, diff: str, author: str, now: datetime,
                            note: str | None = None) -> int:
        """Store a saved mapping text as the file's next version; returns the version number."""
        with self.transaction() as db:
            latest = db.execute("SELECT MAX(version) FROM mapping_versions WHERE file = ?", [file]).fetchone()[0]
            version = (latest or 0) + 1
            db["mapping_versions"].insert({"file": file, "version": version, "text": text, "diff": diff,
                                           "author": author, "created_at": iso(now), "note": note})
            return version

    def mapping_versions(self, file: str) -> list[dict]:
        """A file's history, newest first, without the full texts."""
        return list(self.db.query(
            "SELECT file, version, diff, author, created_at, note FROM mapping_versions WHERE file = ? "
            "ORDER BY version DESC", [file]))

    def mapping_version(self, file: str, version: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM mapping_versions WHERE file = ? AND version = ?", [file, version]))
        return rows[0] if rows else None

    def audit(self, actor: str, action: str, target: str | None, detail: str | None, now: datetime) -> None:
        with self.transaction() as db:
            db["audit_log"].insert({"at": iso(now), "actor": actor, "action": action, "target": target,
                                    "detail": detail})

    def audit_log(self, limit: int = 100) -> list[dict]:
        return list(self.db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))

    def record_login_failure(self, client: str, now: datetime) -> None:
        with self.transaction() as db:
            db["login_failures"].insert({"client": client, "at": iso(now)})
            db.execute("DELETE FROM login_failures WHERE at < ?", [iso(now - timedelta(days=1))])

    def login_failures_since(self, client: str, since: datetime) -> int:
        return self.db.execute("SELECT COUNT(*) FROM login_failures WHERE client = ? AND at >= ?",
                               [client, iso(since)]).fetchone()[0]

    def clear_login_failures(self, client: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM login_failures WHERE client = ?", [client])

    # -- leads and activities (handoff) --------------------------------------------------------
    def touch_lead(self, db: Database, now: datetime, hubspot_id: str | None = None,
                   email: str | None = None) -> int:
        """The lead's id, created if new, marked for re-evaluation (its current record is read in a batch later)."""
        email = email.lower() if email else None
        row = None
        if hubspot_id:
            row = db.execute("SELECT id FROM leads WHERE hubspot_id = ?", [hubspot_id]).fetchone()
        if row is None and email:
            row = db.execute("SELECT id FROM leads WHERE email = ?", [email]).fetchone()
        if row is None:
            return db.execute(
                "INSERT INTO leads (hubspot_id, email, dirty, dirty_since, created_at) VALUES (?, ?, 1, ?, ?)",
                [hubspot_id, email, iso(now), iso(now)],
            ).lastrowid
        db.execute("UPDATE leads SET dirty = 1, dirty_since = COALESCE(dirty_since, ?), "
                   "hubspot_id = COALESCE(hubspot_id, ?) WHERE id = ?", [iso(now), hubspot_id, row[0]])
        return row[0]

    def add_activity(self, db: Database, activity_id: str, lead_id: int, activity_type: str, occurred_at: str,
                     properties_json: str | None, inbox_id: int, now: datetime) -> bool:
        """Record an activity once (its id is the sender's); False when it was already there."""
        return db.execute(
            "INSERT OR IGNORE INTO activities (id, lead_id, type, occurred_at, received_at, properties, inbox_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [activity_id, lead_id, activity_type, occurred_at, iso(now), properties_json, inbox_id],
        ).rowcount == 1

    def lead(self, lead_id: int) -> dict | None:
        rows = list(self.db.query("SELECT * FROM leads WHERE id = ?", [lead_id]))
        return rows[0] if rows else None

    def lead_activities(self, lead_id: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM activities WHERE lead_id = ? ORDER BY occurred_at, id", [lead_id]))

    def dirty_leads(self, limit: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM leads WHERE dirty = 1 ORDER BY dirty_since LIMIT ?", [limit]))
