"""The only module that speaks SQL: one SQLite file in WAL mode, reached through sqlite-utils."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bridge.clock import iso
from bridge.errors import StoreUnavailable
from bridge.migrations import migrations
from connectors.base import InboxEvent

STATUSES = ("pending", "processing", "done", "dead")
# How long a write of ours is remembered: HubSpot sends its webhooks within minutes, retries within 24 h.
OWN_WRITE_MEMORY = timedelta(hours=24)


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
        db.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for another process's writer
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.execute("COMMIT")

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


def _dead_with_ids(ids: Iterable[int] | None) -> tuple[str, list[int]]:
    """The WHERE clause for dead letters: the given ids (none matches nothing), or all when None."""
    if ids is None:
        return "status = 'dead'", []
    ids = list(ids)
    return (f"status = 'dead' AND id IN ({', '.join('?' * len(ids))})" if ids else "0"), ids
