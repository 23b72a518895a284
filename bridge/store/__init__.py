"""The only module that speaks SQL: one SQLite file in WAL mode, reached through sqlite-utils."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlite_utils import Database

from bridge.kernel.clock import iso, parse_iso
from bridge.kernel.errors import StoreUnavailable
from bridge.store.migrations import migrations
from connectors.base import InboxEvent

STATUSES = ("pending", "processing", "done", "dead")
# How long a write of ours is remembered: HubSpot sends its webhooks within minutes, retries within 24 h.
OWN_WRITE_MEMORY = timedelta(hours=24)


class LoginAttempt(NamedTuple):
    """A login attempt as the throttle saw it: reserved (the password may be checked), and the failures counted."""

    reserved: bool
    client_failures: int
    all_failures: int


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
    """One delivery's rows waiting for a group commit, and what became of them: `new` once committed,
    `error` once it is known that they were not."""

    rows: list[tuple]
    new: int | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self.new is not None or self.error is not None


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
        self._lock_fd: tuple[int, int] | None = None  # (pid, descriptor) of the write-lock file

    @property
    def db(self) -> Database:
        cached = getattr(self._local, "db", None)
        if cached is not None and self._local.pid == os.getpid():
            return cached
        _create_private(self.path)
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
        with self._writers_turn(), self._immediate_transaction() as db:
            yield db

    @contextmanager
    def _immediate_transaction(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any exception; the caller has its writer's turn."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for a writer outside Bridge (a backup, sqlite3)
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:  # a failed COMMIT can leave it open, and the thread's next BEGIN would fail
                db.conn.rollback()
            raise

    @contextmanager
    def _writers_turn(self) -> Iterator[None]:
        """Writers of every Bridge process on this database (web workers, the worker, commands) take turns on an
        flock of `<database>-write.lock` before BEGIN IMMEDIATE, within busy_timeout.

        SQLite's own busy handler makes a process that finds the database locked sleep 1, 2, 5 ... 100 ms
        between tries, so under load it wakes late and loses the lock to the other process again and again:
        measured as 80-230 ms in BEGIN IMMEDIATE (the ingest p99). Here a waiter looks every 0.1 ms.
        Threads of one process already queue on `_write_lock`, so one descriptor per process is enough.
        """
        fd = self._write_lock_file()
        if fd is None:
            yield
            return
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: another Bridge process kept the write lock for {self.busy_timeout_ms} ms"
                    ) from None
                time.sleep(0.0001)  # a commit takes about a millisecond: look again well within one
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _write_lock_file(self) -> int | None:
        """This process's descriptor of the write-lock file (a forked child opens its own: an inherited one
        would share the parent's lock); None for an in-memory database."""
        if self.path == ":memory:" or self.path.startswith("file:"):
            return None
        if self._lock_fd is None or self._lock_fd[0] != os.getpid():
            fd = os.open(f"{self.path}-write.lock", os.O_RDWR | os.O_CREAT, 0o600)
            weakref.finalize(self, os.close, fd)
            self._lock_fd = (os.getpid(), fd)
        return self._lock_fd[1]

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

    # -- worker heartbeats and write check (readiness) ----------------------------------------
    def beat(self, owner: str, started_at: datetime, now: datetime) -> None:
        """Stamp a worker's heartbeat; workers silent for a day are forgotten."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO worker_heartbeats (owner, started_at, beat_at) VALUES (?, ?, ?) "
                "ON CONFLICT(owner) DO UPDATE SET beat_at = excluded.beat_at",
                [owner, iso(started_at), iso(now)],
            )
            db.execute("DELETE FROM worker_heartbeats WHERE beat_at < ?", [iso(now - timedelta(days=1))])

    def last_heartbeat(self) -> datetime | None:
        """The newest stamp of any worker on this database; None when none has beaten yet."""
        stamp = self.db.execute("SELECT MAX(beat_at) FROM worker_heartbeats").fetchone()[0]
        return parse_iso(stamp) if stamp else None

    def check_writable(self, timeout_ms: int) -> None:
        """Take the write lock and give it back (BEGIN IMMEDIATE, rolled back) within about `timeout_ms`;
        raise StoreUnavailable saying why not."""
        if not self._write_lock.acquire(timeout=timeout_ms / 1000):
            raise StoreUnavailable(f"writers in this process held the write lock for over {timeout_ms} ms")
        try:
            db = self.db
            db.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
            try:
                db.execute("BEGIN IMMEDIATE")
                db.conn.rollback()
            except sqlite3.Error as error:
                raise StoreUnavailable(f"{error} (waited {timeout_ms} ms for the write lock)") from error
            finally:
                db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        finally:
            self._write_lock.release()

    # -- ingest -------------------------------------------------------------------------------
    def add_events(self, events: list[InboxEvent], received_at: datetime) -> int:
        """Commit a delivery's events; duplicates are ignored. Returns how many were new.

        Group commit: concurrent deliveries in this process queue up, and whichever thread gets the
        write lock commits all queued ones in one transaction, so one fsync covers many requests.
        Each caller still returns only after the commit that holds its events, and raises
        StoreUnavailable (answer 503) when its own events were not committed, whatever the reason.
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
                self._commit_pending()
        if batch.error is not None:
            raise StoreUnavailable(f"could not commit {len(batch.rows)} event(s): {batch.error!r}") from batch.error
        return batch.new

    def _commit_pending(self) -> None:
        """Commit every delivery queued in this process (the caller holds the write lock), taking the queue
        only once this process's turn to write has come: deliveries that arrive while another process
        writes join this commit and share its fsync, instead of waiting for one more turn each."""
        group: list[_PendingBatch] = []
        try:
            with self._writers_turn():
                with self._pending_mutex:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        except Exception as error:  # no turn within busy_timeout: nothing queued was committed
            if not group:
                with self._pending_mutex:
                    group, self._pending = self._pending, []
            for batch in group:
                if not batch.settled:
                    batch.error = error

    def _commit_group(self, group: list[_PendingBatch]) -> None:
        """Insert every queued delivery in one transaction (the caller has the writer's turn), and settle each.

        Nothing one delivery holds may cost another its answer: when the shared transaction fails for a
        reason that may be one delivery's own (an exception of any type other than the database being busy,
        full or unreadable), each delivery is committed alone, so the healthy ones are stored and only the
        one that cannot be stored fails. Every batch leaves settled, with its own count or its own error.
        """
        try:
            for batch, new in zip(group, self._insert(group), strict=True):
                batch.new = new
        except sqlite3.OperationalError as error:  # locked, disk full, I/O: no delivery would commit alone
            for batch in group:
                batch.error = error
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
            else:
                for batch in group:
                    try:
                        (batch.new,) = self._insert([batch])
                    except Exception as own:
                        batch.error = own
        finally:
            for batch in group:  # interrupted (a BaseException): whoever has no answer was not committed
                if not batch.settled:
                    batch.error = RuntimeError("the group commit was interrupted")

    def _insert(self, group: list[_PendingBatch]) -> list[int]:
        """Insert the batches' rows in one transaction; how many of each batch's rows were new.

        Many rows per statement, not executemany: sqlite3 lets go of the GIL for every statement step, and
        while other request threads parse JSON, taking it back can wait a whole switch interval (5 ms). Row
        by row, a 100-event delivery took up to 500 ms that way while every queued delivery waited for it
        (the ingest p99); one statement per 100 rows takes the GIL back a few times per commit.
        """
        new_counts = []
        with self._immediate_transaction() as db:
            for batch in group:
                before = db.conn.total_changes
                for start in range(0, len(batch.rows), _ROWS_PER_INSERT):
                    rows = batch.rows[start:start + _ROWS_PER_INSERT]
                    db.conn.execute(_insert_inbox_sql(len(rows)), [value for row in rows for value in row])
                new_counts.append(db.conn.total_changes - before)
        return new_counts

    def add_rejected(self, source: str, reason: str, body: bytes, content_type: str | None,
                     received_at: datetime) -> int:
        """Keep a refused delivery's raw body (bytes, stored as they came) with the reason; StoreUnavailable
        when it cannot be kept. Text that UTF-8 cannot encode is kept with \\u escapes instead."""
        def text(value: str | None) -> str | None:
            return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")

        try:
            with self.transaction() as db:
                db["rejected"].insert(
                    {"source": source, "received_at": iso(received_at), "reason": text(reason),
                     "content_type": text(content_type), "body": bytes(body)}
                )
                return db["rejected"].last_pk
        except Exception as error:
            raise StoreUnavailable(f"could not keep the rejected delivery: {error!r}") from error

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

    def fail(self, db: Database, event_id: int, owner: str, error: str, retry_at: datetime | None,
             now: datetime) -> None:
        """Schedule a retry at `retry_at`, or bury the event as a dead letter when `retry_at` is None."""
        db.execute(
            "UPDATE inbox SET status = ?, next_attempt_at = COALESCE(?, next_attempt_at), last_error = ?, "
            "lease_owner = NULL, lease_expires_at = NULL, finished_at = ? "
            "WHERE id = ? AND lease_owner = ?",
            ["dead" if retry_at is None else "pending", iso(retry_at) if retry_at else None, error[:2000],
             None if retry_at else iso(now), event_id, owner],
        )

    def release(self, db: Database, event_ids: Iterable[int], owner: str, retry_at: datetime) -> None:
        """Hand back claimed events that were not attempted (they wait behind a failed one of their record)."""
        ids = list(event_ids)
        if not ids:
            return
        db.execute(  # only "?" placeholders are formatted into these statements
            f"UPDATE inbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = ?, "  # noqa: S608
            f"lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ? "
            f"AND id IN ({', '.join('?' * len(ids))})",
            [iso(retry_at), owner, *ids],
        )

    # -- inspection and replay ----------------------------------------------------------------
    def inbox_counts(self) -> dict[str, int]:
        return self._status_counts("inbox")

    def _status_counts(self, table: str) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        counts.update(dict(self.db.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall()))  # noqa: S608
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
        where, params = _dead_with_ids(event_ids)
        with self.transaction() as db:
            return db.execute(
                f"UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL "  # noqa: S608
                f"WHERE {where}",
                [iso(now), *params],
            ).rowcount

    # -- normalised changes (the worker's default handler) -------------------------------------
    def record_change(self, db: Database, inbox_id: int, source: str, record_key: str, change_type: str,
                      occurred_at: str, fields_json: str, now: datetime) -> None:
        db["changes"].insert(
            {"inbox_id": inbox_id, "source": source, "record_key": record_key, "change_type": change_type,
             "occurred_at": occurred_at, "fields": fields_json, "recorded_at": iso(now)}
        )

    def change_count(self, change_type: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM changes WHERE change_type = ?", [change_type]).fetchone()[0]

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
            _insert_login_failure(db, client, now)

    def reserve_login_attempt(self, client: str, now: datetime, since: datetime, per_client: int,
                              overall: int) -> LoginAttempt:
        """Count the failures since `since` and, under both limits, record this attempt as a failure, in one
        write transaction: parallel attempts (threads or processes) queue on the lock, so each sees the others'
        reservations and no more than the limit ever reach the password check. The caller clears the
        client's failures when the password was right."""
        with self.transaction() as db:
            mine = db.execute("SELECT COUNT(*) FROM login_failures WHERE client = ? AND at >= ?",
                              [client, iso(since)]).fetchone()[0]
            everyone = db.execute("SELECT COUNT(*) FROM login_failures WHERE at >= ?", [iso(since)]).fetchone()[0]
            reserved = mine < per_client and everyone < overall
            if reserved:
                _insert_login_failure(db, client, now)
            return LoginAttempt(reserved, mine, everyone)

    def login_failures_since(self, client: str, since: datetime) -> int:
        return self.db.execute("SELECT COUNT(*) FROM login_failures WHERE client = ? AND at >= ?",
                               [client, iso(since)]).fetchone()[0]

    def clear_login_failures(self, client: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM login_failures WHERE client = ?", [client])

    # -- admin sessions (the cookie holds a random id; `key` is its hash) ----------------------
    def add_admin_session(self, key: str, generation: str, client: str, now: datetime, expires_at: datetime,
                          idle_since: datetime) -> None:
        """Store a new session; on the way, delete sessions past their end or unused since `idle_since`."""
        with self.transaction() as db:
            db.execute("DELETE FROM admin_sessions WHERE expires_at <= ? OR last_seen_at < ?",
                       [iso(now), iso(idle_since)])
            db["admin_sessions"].insert({"key": key, "generation": generation, "client": client,
                                         "created_at": iso(now), "last_seen_at": iso(now),
                                         "expires_at": iso(expires_at)})

    def admin_session(self, key: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM admin_sessions WHERE key = ?", [key]))
        return rows[0] if rows else None

    def touch_admin_session(self, key: str, now: datetime) -> None:
        """Best effort: with the database busy or the disk full, the pages stay readable; a missed touch only
        makes the session look idle a minute longer."""
        with suppress(sqlite3.OperationalError), self.transaction() as db:
            db.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE key = ?", [iso(now), key])

    def end_admin_session(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM admin_sessions WHERE key = ?", [key])

    # -- leads and activities (handoff) --------------------------------------------------------
    def touch_lead(self, db: Database, now: datetime, hubspot_id: str | None = None,
                   email: str | None = None, refresh: bool = False) -> int:
        """The lead's id, created if new, queued for re-evaluation.

        `refresh` says the HubSpot record changed, so it is read again (in a batch) before evaluating;
        an activity alone re-evaluates with the record already read.
        """
        email = email.lower() if email else None
        row = None
        if hubspot_id:
            row = db.execute("SELECT id FROM leads WHERE hubspot_id = ?", [hubspot_id]).fetchone()
        if row is None and email:
            row = db.execute("SELECT id FROM leads WHERE email = ?", [email]).fetchone()
        if row is None:
            return db.execute(
                "INSERT INTO leads (hubspot_id, email, dirty, dirty_since, touches, needs_read, created_at) "
                "VALUES (?, ?, 1, ?, 1, 1, ?)",
                [hubspot_id, email, iso(now), iso(now)],
            ).lastrowid
        db.execute("UPDATE leads SET dirty = 1, dirty_since = COALESCE(dirty_since, ?), touches = touches + 1, "
                   "needs_read = MAX(needs_read, ?, read_at IS NULL), hubspot_id = COALESCE(hubspot_id, ?) "
                   "WHERE id = ?", [iso(now), int(refresh), hubspot_id, row[0]])
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

    def find_lead(self, email: str | None = None, hubspot_id: str | None = None) -> dict | None:
        column, value = ("email", email.lower()) if email else ("hubspot_id", hubspot_id)
        rows = list(self.db.query(f"SELECT * FROM leads WHERE {column} = ?", [value]))  # noqa: S608 (fixed names)
        return rows[0] if rows else None

    def leads(self, handed_off: bool | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        where = "" if handed_off is None else \
            "WHERE handed_off_at IS NOT NULL" if handed_off else "WHERE handed_off_at IS NULL"
        return list(self.db.query(f"SELECT * FROM leads {where} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
                                  [limit, offset]))

    def lead_activities(self, lead_id: int, db: Database | None = None) -> list[dict]:
        return list((db or self.db).query(
            "SELECT * FROM activities WHERE lead_id = ? ORDER BY occurred_at, id", [lead_id]))

    def lead_states(self) -> dict[str, int]:
        """How many leads wait for evaluation, were handed off, are excluded: for /metrics."""
        waiting, handed_off, excluded = self.db.execute(
            "SELECT COALESCE(SUM(dirty), 0), COUNT(handed_off_at), COUNT(excluded) FROM leads").fetchone()
        return {"waiting_evaluation": waiting, "handed_off": handed_off, "excluded": excluded}

    def dirty_leads(self, limit: int) -> list[dict]:
        return list(self.db.query("SELECT * FROM leads WHERE dirty = 1 ORDER BY dirty_since LIMIT ?", [limit]))

    # -- evaluation ----------------------------------------------------------------------------
    def claim_dirty_leads(self, now: datetime, lease_seconds: int, limit: int, linger: timedelta) -> list[dict]:
        """Lease up to `limit` leads waiting for evaluation, once a full batch waits or the oldest has
        waited `linger` (so a burst costs full batches of API reads, not one call per lead)."""
        now_s = iso(now)
        with self.transaction() as db:
            waiting, oldest = db.execute(
                "SELECT COUNT(*), MIN(dirty_since) FROM leads WHERE dirty = 1 "
                "AND (eval_lease_until IS NULL OR eval_lease_until <= ?)", [now_s]).fetchone()
            if not waiting or (waiting < limit and oldest > iso(now - linger)):
                return []
            rows = db.execute(
                "UPDATE leads SET eval_lease_until = ? WHERE id IN (SELECT id FROM leads WHERE dirty = 1 "
                "AND (eval_lease_until IS NULL OR eval_lease_until <= ?) ORDER BY dirty_since LIMIT ?) RETURNING *",
                [iso(now + timedelta(seconds=lease_seconds)), now_s, limit],
            )
            names = [d[0] for d in rows.description]
            return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]

    def release_leads(self, lead_ids: Iterable[int], retry_at: datetime) -> None:
        """Give leased leads back, still dirty, to be evaluated again at `retry_at` (a read failed)."""
        ids = list(lead_ids)
        with self.transaction() as db:
            db.execute(f"UPDATE leads SET eval_lease_until = ? WHERE id IN ({', '.join('?' * len(ids))})",  # noqa: S608
                       [iso(retry_at), *ids])

    def save_record(self, db: Database, lead_id: int, touches: int, hubspot_id: str | None, email: str | None,
                    properties_json: str | None, now: datetime) -> int | None:
        """Store the HubSpot record read for a lead leased with `touches`; returns the lead's id, or None
        when the lead was merged into another one meanwhile (earlier in the same batch).

        The id changes when two rows turn out to be one person (an email-only lead from an activity and
        the contact's own row): the row with the HubSpot id is kept and the other's activities move to it.
        A lead touched again since its lease stays queued, so a change during the read is not lost.
        """
        email = email.lower() if email else None
        keep = lead_id
        if db.execute("SELECT 1 FROM leads WHERE id = ?", [keep]).fetchone() is None:
            return None
        if hubspot_id:
            other = db.execute("SELECT id FROM leads WHERE hubspot_id = ? AND id != ?", [hubspot_id, keep]).fetchone()
            if other is not None:
                self._merge_leads(db, other[0], keep)
                keep, touches = other[0], -1  # the survivor was not the leased row: evaluate it again
        if email:
            other = db.execute("SELECT id, hubspot_id FROM leads WHERE email = ? AND id != ?", [email, keep]).fetchone()
            if other is not None and other[1] and hubspot_id and other[1] != hubspot_id:
                # Another contact had this address before: it is re-read when it next changes.
                db.execute("UPDATE leads SET email = NULL, needs_read = 1 WHERE id = ?", [other[0]])
            elif other is not None:
                self._merge_leads(db, keep, other[0])
        db.execute(
            "UPDATE leads SET hubspot_id = COALESCE(?, hubspot_id), email = COALESCE(?, email), "
            "properties = COALESCE(?, properties), read_at = ?, "
            "needs_read = CASE WHEN touches = ? THEN 0 ELSE needs_read END WHERE id = ?",
            [hubspot_id, email, properties_json, iso(now), touches, keep],
        )
        return keep

    def _merge_leads(self, db: Database, survivor: int, gone: int) -> None:
        """Fold lead `gone` into `survivor`: its activities, decisions and writes move; its row goes."""
        handed_off_at, criterion, email, salesforce_id, kintone_id = db.execute(
            "SELECT handed_off_at, handoff_criterion, email, salesforce_id, kintone_id FROM leads WHERE id = ?",
            [gone]).fetchone()
        for table in ("activities", "decisions", "outbox"):
            db.execute(f"UPDATE {table} SET lead_id = ? WHERE lead_id = ?", [survivor, gone])  # noqa: S608
        db.execute("DELETE FROM leads WHERE id = ?", [gone])
        db.execute(
            "UPDATE leads SET handed_off_at = COALESCE(handed_off_at, ?), "
            "handoff_criterion = COALESCE(handoff_criterion, ?), email = COALESCE(email, ?), "
            "salesforce_id = COALESCE(salesforce_id, ?), kintone_id = COALESCE(kintone_id, ?), dirty = 1, "
            "dirty_since = COALESCE(dirty_since, created_at), touches = touches + 1 WHERE id = ?",
            [handed_off_at, criterion, email, salesforce_id, kintone_id, survivor],
        )

    def save_decision(self, db: Database, lead_id: int, touches: int, decision: dict, summary: str,
                      now: datetime) -> None:
        """Store an evaluation and put the lead to rest, unless it was touched again meanwhile."""
        db["decisions"].insert({
            "lead_id": lead_id, "evaluated_at": iso(now), "score": decision["score"], "stage": decision["stage"],
            "temperature": decision["temperature"], "qualifies": int(decision["qualifies"]),
            "excluded": decision["excluded"], "criterion": decision["criterion"], "summary": summary,
            "explanation": json.dumps(decision, ensure_ascii=False),
        })
        db.execute(
            "UPDATE leads SET score = ?, stage = ?, temperature = ?, excluded = ?, summary = ?, evaluated_at = ?, "
            "eval_lease_until = NULL, dirty = CASE WHEN touches = ? THEN 0 ELSE 1 END, "
            "dirty_since = CASE WHEN touches = ? THEN NULL ELSE dirty_since END WHERE id = ?",
            [decision["score"], decision["stage"], decision["temperature"], decision["excluded"], summary, iso(now),
             touches, touches, lead_id],
        )

    def mark_handed_off(self, db: Database, lead_id: int, criterion: str, reason: str, now: datetime) -> bool:
        """Record the handoff once: False when the lead was handed off before (never twice)."""
        return db.execute(
            "UPDATE leads SET handed_off_at = ?, handoff_criterion = ?, handoff_reason = ? "
            "WHERE id = ? AND handed_off_at IS NULL",
            [iso(now), criterion, reason, lead_id],
        ).rowcount == 1

    def decisions(self, lead_id: int, limit: int = 50) -> list[dict]:
        return list(self.db.query("SELECT * FROM decisions WHERE lead_id = ? ORDER BY id DESC LIMIT ?",
                                  [lead_id, limit]))

    def set_lead_record_id(self, db: Database, lead_id: int, system: str, record_id: str) -> None:
        column = {"salesforce": "salesforce_id", "kintone": "kintone_id"}.get(system)
        if column:
            db.execute(f"UPDATE leads SET {column} = ? WHERE id = ?", [record_id, lead_id])  # noqa: S608

    # -- outbox --------------------------------------------------------------------------------
    def enqueue(self, db: Database, lead_id: int, kind: str, target: str, now: datetime) -> None:
        """Queue a write for the lead; a no-op when the same write is already waiting."""
        db.execute(
            "INSERT OR IGNORE INTO outbox (lead_id, kind, target, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
            [lead_id, kind, target, iso(now), iso(now)],
        )

    def open_writes(self, db: Database, lead_id: int, kind: str) -> int:
        return db.execute("SELECT COUNT(*) FROM outbox WHERE lead_id = ? AND kind = ? "
                          "AND status IN ('pending', 'processing')", [lead_id, kind]).fetchone()[0]

    def claim_outbox(self, owner: str, now: datetime, lease_seconds: int, batch_sizes: dict[str, int],
                     linger: timedelta) -> list[dict]:
        """Lease one batch of ready writes for one (kind, target): the group with the oldest ready item
        that is full or has waited `linger`. `batch_sizes` maps kind to its batch size."""
        now_s = iso(now)
        with self.transaction() as db:
            db.execute("UPDATE outbox SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "
                       "last_error = 'lease expired: the worker stopped mid-write' "
                       "WHERE status = 'processing' AND lease_expires_at <= ?", [now_s])
            groups = db.execute(
                "SELECT kind, target, COUNT(*), MIN(next_attempt_at) AS oldest FROM outbox "
                "WHERE status = 'pending' AND next_attempt_at <= ? GROUP BY kind, target ORDER BY oldest",
                [now_s]).fetchall()
            for kind, target, ready, oldest in groups:
                size = batch_sizes.get(kind, 100)
                if ready >= size or oldest <= iso(now - linger):
                    rows = db.execute(
                        "UPDATE outbox SET status = 'processing', lease_owner = ?, lease_expires_at = ?, "
                        "attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' "
                        "AND kind = ? AND target = ? AND next_attempt_at <= ? ORDER BY id LIMIT ?) RETURNING *",
                        [owner, iso(now + timedelta(seconds=lease_seconds)), kind, target, now_s, size])
                    names = [d[0] for d in rows.description]
                    return sorted((dict(zip(names, row, strict=True)) for row in rows.fetchall()),
                                  key=lambda item: item["id"])
        return []

    def settle(self, db: Database, item_id: int, owner: str, now: datetime, status: str,
               result: dict | None = None, error: str | None = None, fields: Iterable[str] = (),
               retry_at: datetime | None = None) -> None:
        """Finish a leased write: done, dead (with the reason and fields) or pending again at `retry_at`."""
        db.execute(
            "UPDATE outbox SET status = ?, result = COALESCE(?, result), last_error = ?, fields = ?, "
            "next_attempt_at = COALESCE(?, next_attempt_at), finished_at = ?, lease_owner = NULL, "
            "lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
            [status, json.dumps(result, ensure_ascii=False) if result is not None else None,
             error[:2000] if error else None, json.dumps(list(fields)) if fields else None,
             iso(retry_at) if retry_at else None, None if status == "pending" else iso(now), item_id, owner],
        )

    def outbox_items(self, status: str | None = None, lead_id: int | None = None, limit: int = 100) -> list[dict]:
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        if lead_id is not None:
            clauses.append("lead_id = ?")
            params.append(lead_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return list(self.db.query(f"SELECT * FROM outbox {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
                                  [*params, limit]))

    def outbox_counts(self) -> dict[str, int]:
        return self._status_counts("outbox")

    def replay_outbox(self, item_ids: Iterable[int] | None, now: datetime) -> int:
        """Queue dead writes again with fresh attempts (after the mapping or the data was fixed).
        A dead write whose lead already has the same write waiting stays dead (it is covered)."""
        where, params = _dead_with_ids(item_ids)
        with self.transaction() as db:
            return db.execute(
                f"UPDATE OR IGNORE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, "  # noqa: S608
                f"finished_at = NULL, last_error = NULL, fields = NULL WHERE {where}",
                [iso(now), *params],
            ).rowcount

    # -- failed-write alerts (one per target and failure episode, then one on recovery) -----------
    def note_dead_letter(self, db: Database, target: str, kind: str, reason: str, fields: Iterable[str],
                         now: datetime) -> None:
        """Count a dead letter in its target's unfinished episode, or open one (its alert is then due).
        An episode whose recovery was not announced yet is reopened: the failure goes on, no new alert."""
        row = db.execute("SELECT id, fields FROM alerts WHERE target = ? AND recovered_notified_at IS NULL",
                         [target]).fetchone()
        if row is None:
            db["alerts"].insert({"target": target, "kind": kind, "state": "open", "first_at": iso(now),
                                 "last_at": iso(now), "count": 1, "last_reason": reason[:2000],
                                 "fields": json.dumps(sorted(set(fields))), "next_try_at": iso(now), "tries": 0})
            return
        named = sorted(set(json.loads(row[1] or "[]")) | set(fields))
        db.execute("UPDATE alerts SET state = 'open', recovered_at = NULL, count = count + 1, last_at = ?, "
                   "last_reason = ?, fields = ? WHERE id = ?", [iso(now), reason[:2000], json.dumps(named), row[0]])

    def note_clean_write(self, db: Database, target: str, now: datetime) -> None:
        """A batch to `target` succeeded without a dead letter: its open episode has recovered."""
        db.execute("UPDATE alerts SET state = 'recovered', recovered_at = ? "
                   "WHERE target = ? AND recovered_notified_at IS NULL AND state = 'open'", [iso(now), target])

    def claim_alert(self, now: datetime, lease: timedelta) -> dict | None:
        """Lease the oldest episode with a notice due (its alert, or its recovery once the alert was sent),
        so that one worker sends it; the lease is also the pause before another try if this one dies."""
        due = ("recovered_notified_at IS NULL AND (notified_at IS NULL OR state = 'recovered') "
               "AND next_try_at <= ?")
        # Asked on every worker loop: a plain read first, so an idle loop never takes the write lock.
        if self.db.execute(f"SELECT 1 FROM alerts WHERE {due} LIMIT 1", [iso(now)]).fetchone() is None:  # noqa: S608
            return None
        with self.transaction() as db:
            rows = db.execute(
                f"UPDATE alerts SET next_try_at = ? WHERE id = (SELECT id FROM alerts WHERE {due} "  # noqa: S608
                "ORDER BY id LIMIT 1) RETURNING *", [iso(now + lease), iso(now)])
            names = [d[0] for d in rows.description]
            row = rows.fetchone()
        return dict(zip(names, row, strict=True)) if row else None

    def alert_sent(self, alert_id: int, recovery: bool, now: datetime) -> None:
        """The alert (or the recovery notice) was delivered. A recovery notice for an episode that failed again
        while it was being sent does not close it: the alert becomes due again instead."""
        with self.transaction() as db:
            if not recovery:
                db.execute("UPDATE alerts SET notified_at = ?, tries = 0, send_error = NULL, next_try_at = ? "
                           "WHERE id = ?", [iso(now), iso(now), alert_id])
                return
            db.execute("UPDATE alerts SET recovered_notified_at = CASE WHEN state = 'recovered' THEN ? END, "
                       "notified_at = CASE WHEN state = 'recovered' THEN notified_at END, tries = 0, "
                       "send_error = NULL, next_try_at = ? WHERE id = ?", [iso(now), iso(now), alert_id])

    def alert_failed(self, alert_id: int, error: str, retry_at: datetime) -> None:
        """The notice could not be sent: it stays due, from `retry_at` on."""
        with self.transaction() as db:
            db.execute("UPDATE alerts SET tries = tries + 1, send_error = ?, next_try_at = ? WHERE id = ?",
                       [error[:500], iso(retry_at), alert_id])

    def alerts(self, limit: int = 50) -> list[dict]:
        """Failure episodes, newest first."""
        return list(self.db.query("SELECT * FROM alerts ORDER BY id DESC LIMIT ?", [limit]))

    def dead_letter_count(self, target: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND target = ?",
                               [target]).fetchone()[0]

    # -- own writes (echo suppression) ---------------------------------------------------------
    def remember_writes(self, system: str, writes: dict[str, dict[str, Any]], now: datetime) -> None:
        """Remember what this service is about to write (record id -> properties), before writing it:
        the webhooks those writes cause may arrive before the write call returns."""
        rows = [(system, record_id, name, None if value is None else str(value), iso(now))
                for record_id, properties in writes.items() for name, value in properties.items()]
        with self.transaction() as db:
            db.conn.executemany("INSERT INTO own_writes (system, record_id, property, value, written_at) "
                                "VALUES (?, ?, ?, ?, ?)", rows)
            db.execute("DELETE FROM own_writes WHERE written_at < ?", [iso(now - OWN_WRITE_MEMORY)])

    def is_own_write(self, db: Database, system: str, record_id: str, prop: str, value: str | None,
                     now: datetime) -> bool:
        """Whether (record, property, value) is something this service wrote recently: an echo."""
        return db.execute(
            "SELECT 1 FROM own_writes WHERE system = ? AND record_id = ? AND property = ? AND value IS ? "
            "AND written_at >= ? LIMIT 1",
            [system, record_id, prop, value, iso(now - OWN_WRITE_MEMORY)],
        ).fetchone() is not None

    # -- timeline (read-only) --
    def changes_of(self, record_keys: Iterable[str], limit: int = 500) -> list[dict]:
        """The newest `limit` normalised changes of these records, oldest first."""
        keys = list(record_keys)
        if not keys:
            return []
        rows = self.db.query(  # only "?" placeholders are formatted into this statement
            f"SELECT * FROM changes WHERE record_key IN ({', '.join('?' * len(keys))}) "  # noqa: S608
            "ORDER BY occurred_at DESC, id DESC LIMIT ?", [*keys, limit])
        return list(reversed(list(rows)))

    def leads_by_id(self, lead_ids: Iterable[int]) -> dict[int, dict]:
        """Leads keyed by id (for listing outbox items with their lead); unknown ids are left out."""
        ids = sorted(set(lead_ids))
        found: dict[int, dict] = {}
        for start in range(0, len(ids), 500):  # stay far below SQLite's bound-variable limit
            chunk = ids[start:start + 500]
            found.update((row["id"], row) for row in self.db.query(
                f"SELECT * FROM leads WHERE id IN ({', '.join('?' * len(chunk))})", chunk))  # noqa: S608
        return found

    def lead_count(self, handed_off: bool | None = None) -> int:
        where = "" if handed_off is None else \
            "WHERE handed_off_at IS NOT NULL" if handed_off else "WHERE handed_off_at IS NULL"
        return self.db.execute(f"SELECT COUNT(*) FROM leads {where}").fetchone()[0]  # noqa: S608 (fixed text)

    # -- retention (bridge/retention.py) --------------------------------------------------------
    def prune_inbox(self, finished_before: datetime, chunk: int = 500) -> tuple[int, int]:
        """Delete done events finished before the cutoff, with the normalised changes made from them (a change
        references its event); dead, pending and processing events always stay. Returns (events, changes).
        Each chunk is its own short transaction, so webhooks are not kept waiting for the write lock."""
        events = changes = 0
        while True:
            with self.transaction() as db:
                ids = [row[0] for row in db.execute(
                    "SELECT id FROM inbox WHERE status = 'done' AND finished_at < ? ORDER BY id LIMIT ?",
                    [iso(finished_before), chunk])]
                if not ids:
                    return events, changes
                marks = ", ".join("?" * len(ids))  # only "?" placeholders are formatted into these statements
                changes += db.execute(f"DELETE FROM changes WHERE inbox_id IN ({marks})", ids).rowcount  # noqa: S608
                events += db.execute(f"DELETE FROM inbox WHERE id IN ({marks})", ids).rowcount  # noqa: S608
            if len(ids) < chunk:
                return events, changes

    def prune_rejected(self, received_before: datetime, chunk: int = 500) -> int:
        """Delete refused deliveries (their raw bodies) received before the cutoff; returns how many."""
        removed = 0
        while True:
            with self.transaction() as db:
                count = db.execute("DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE received_at < ? "
                                   "ORDER BY id LIMIT ?)", [iso(received_before), chunk]).rowcount
            removed += count
            if count < chunk:
                return removed

    def claim_daily(self, action: str, actor: str, now: datetime, every: timedelta) -> tuple[int | None, datetime]:
        """Record in the audit log that `action` runs now, unless it ran less than `every` ago: of several
        workers asking at once, one gets the entry's id; the others get None. Also returns when it is next due."""
        with self.transaction() as db:
            last = db.execute("SELECT MAX(at) FROM audit_log WHERE action = ?", [action]).fetchone()[0]
            if last is not None and parse_iso(last) > now - every:
                return None, parse_iso(last) + every
            entry = db.execute("INSERT INTO audit_log (at, actor, action) VALUES (?, ?, ?)",
                               [iso(now), actor, action]).lastrowid
            return entry, now + every

    def set_audit_detail(self, entry: int, detail: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE audit_log SET detail = ? WHERE id = ?", [detail, entry])


# 100 rows of 8 values: 800 bound values, under the 999 that older SQLite builds allow per statement.
_ROWS_PER_INSERT = 100


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_inbox_sql(rows: int) -> str:
    # Only "?" placeholders are formatted into this statement.
    return ("INSERT OR IGNORE INTO inbox (source, event_type, dedupe_key, record_key, occurred_at, received_at, body,"  # noqa: S608
            " next_attempt_at) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows))


def _insert_login_failure(db: Database, client: str, now: datetime) -> None:
    db["login_failures"].insert({"client": client, "at": iso(now)})
    db.execute("DELETE FROM login_failures WHERE at < ?", [iso(now - timedelta(days=1))])  # the window is minutes


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600), before SQLite creates it with the umask's
    mode (often 0644): it holds leads' personal data. SQLite gives the -wal and -shm files the same mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    # It exists (the common case), or something else is wrong that sqlite3.connect reports in its own words.
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _dead_with_ids(ids: Iterable[int] | None) -> tuple[str, list[int]]:
    """The WHERE clause for dead letters: the given ids (none matches nothing), or all when None."""
    if ids is None:
        return "status = 'dead'", []
    ids = list(ids)
    return (f"status = 'dead' AND id IN ({', '.join('?' * len(ids))})" if ids else "0"), ids
