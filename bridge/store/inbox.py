"""The inbox queue (events claimed in record order) and the normalised changes the worker keeps of them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, chunked, flat, marks, row_time, value_rows
from bridge.store.queue import LeasedQueue


@dataclass(frozen=True)
class ClaimedEvent:
    id: int
    source: str
    event_type: str
    record_key: str
    occurred_at: str
    body: str
    attempts: int
    first_failed_at: str | None = None


#: Due events a claim looks at per record it may take, oldest first: a record usually has one to a few.
WINDOW_PER_RECORD = 8


class InboxQueue(LeasedQueue):
    table = "inbox"
    noun = "event"

    def claim(self, owner: str, now: datetime, lease_seconds: int, max_records: int) -> list[ClaimedEvent]:
        """Lease every open event of up to `max_records` records that are ready and not leased by anyone else,
        in record order.

        A record is ready when none of its pending events is waiting for a retry (so a new event never
        overtakes an older one that failed) and no live lease holds any of its events.
        """
        self.reap(now)
        now_s, expires = iso(now), iso(now + timedelta(seconds=lease_seconds))
        # The oldest due events name the candidates, read without the write lock: grouping every pending event
        # under the lock, as one statement would, costs milliseconds per claim once thousands wait (a burst's
        # echoes). Only when that window is full and holds too few records that can go (the others wait behind
        # a retry) is the whole queue grouped.
        window = max_records * WINDOW_PER_RECORD
        candidates = self.conn.db.execute(
            "SELECT source, record_key, COUNT(*) FROM (SELECT source, record_key, id FROM inbox "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?) "
            "GROUP BY source, record_key ORDER BY MIN(id)", [now_s, window]).fetchall()
        if not candidates:
            return []  # nothing due: no need to queue for the write lock
        with self.conn.transaction() as db:
            found = self._claim_records(db, [(source, key, n) for n, (source, key, _) in enumerate(candidates)],
                                        owner, now_s, expires, max_records)
            taken = len({(event[1], event[3]) for event in found})
            if taken < max_records and sum(count for *_, count in candidates) == window:
                found += self._claim_any(db, owner, now_s, expires, max_records - taken)
        events = [ClaimedEvent(*row) for row in found]
        return sorted(events, key=lambda e: (e.source, e.record_key, e.occurred_at, e.id))

    @staticmethod
    def _claim_records(db, candidates: list[tuple[str, str, int]], owner: str, now: str, expires: str,
                       limit: int) -> list[tuple]:
        """Lease every pending event of the first `limit` of the (source, record key, rank) candidates that are
        ready: no event of theirs is leased, or waiting for a retry."""
        # `status IN ('pending', 'processing')` lets SQLite use the partial index inbox_open (source, record_key)
        # for both lookups; without it each candidate would scan every pending event.
        found: list[tuple] = []
        for chunk in chunked(candidates, ROWS_PER_STATEMENT):
            if len({(e[1], e[3]) for e in found}) >= limit:
                break
            found += db.execute(
                "UPDATE inbox SET status = 'processing', lease_owner = ?, lease_expires_at = ? FROM ("  # noqa: S608
                f"SELECT k.column1 AS source, k.column2 AS record_key FROM (VALUES {value_rows(chunk, 3)}) AS k "
                "WHERE NOT EXISTS (SELECT 1 FROM inbox AS p WHERE p.source = k.column1 AND p.record_key = k.column2 "
                "AND p.status IN ('pending', 'processing') AND (p.status = 'processing' OR p.next_attempt_at > ?)) "
                "ORDER BY k.column3 LIMIT ?) AS r "
                "WHERE inbox.source = r.source AND inbox.record_key = r.record_key "
                "AND inbox.status IN ('pending', 'processing') AND inbox.status = 'pending' "
                "RETURNING id, source, event_type, record_key, occurred_at, body, attempts, first_failed_at",
                [owner, expires, *flat(chunk), now, limit - len({(e[1], e[3]) for e in found})]).fetchall()
        return found

    @staticmethod
    def _claim_any(db, owner: str, now: str, expires: str, limit: int) -> list[tuple]:
        """`_claim_records` over the whole queue, oldest records first."""
        return db.execute(
            """
            UPDATE inbox SET status = 'processing', lease_owner = :owner, lease_expires_at = :expires
            WHERE status = 'pending' AND (source, record_key) IN (
                SELECT source, record_key FROM inbox AS i
                WHERE status = 'pending'
                  AND NOT EXISTS (SELECT 1 FROM inbox AS p WHERE p.status = 'processing'
                                  AND p.source = i.source AND p.record_key = i.record_key)
                GROUP BY source, record_key
                HAVING MAX(next_attempt_at) <= :now
                ORDER BY MIN(id) LIMIT :limit)
            RETURNING id, source, event_type, record_key, occurred_at, body, attempts, first_failed_at
            """,
            {"owner": owner, "expires": expires, "now": now, "limit": limit}).fetchall()

    def leased(self, event_ids: Collection[int], owner: str) -> set[int]:
        """Which of the events `owner` still holds (in the caller's unit of work, nobody can take them meanwhile)."""
        held: set[int] = set()
        for chunk in chunked(event_ids):
            held.update(row[0] for row in self.conn.db.execute(
                f"SELECT id FROM inbox WHERE id IN ({marks(chunk)}) AND status = 'processing' "  # noqa: S608
                "AND lease_owner = ?", [*chunk, owner]))
        return held

    def complete_many(self, event_ids: Collection[int], owner: str, now: datetime) -> int:
        """(In the caller's unit of work.) `complete` for each event `owner` holds; returns how many were."""
        done = 0
        for chunk in chunked(event_ids):
            done += self.conn.db.execute(
                "UPDATE inbox SET status = 'done', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL, "  # noqa: S608
                f"last_error = NULL WHERE id IN ({marks(chunk)}) AND status = 'processing' AND lease_owner = ?",
                [iso(now), *chunk, owner]).rowcount
        return done

    def events(self, status: str, limit: int = 50) -> list[dict]:
        """Events of one status, oldest first, without their bodies."""
        return list(self.conn.db.query(
            "SELECT id, source, event_type, record_key, occurred_at, received_at, attempts, first_failed_at, "
            "last_error, finished_at FROM inbox WHERE status = ? ORDER BY id LIMIT ?", [status, limit]))


class Changes:
    """A normalised change per processed event: what the timeline shows as "received"."""

    def __init__(self, conn):
        self.conn = conn

    def record(self, inbox_id: int, source: str, record_key: str, change_type: str, occurred_at: str,
               fields_json: str, now: datetime, lead_id: int | None = None) -> int:
        """(In the caller's unit of work.) Keep a change; `lead_id` when the lead it is about is known."""
        return self.record_many([(inbox_id, source, record_key, change_type, occurred_at, fields_json, now, lead_id)])

    def record_many(self, changes: Iterable[tuple[int, str, str, str, str, str, datetime, int | None]]) -> int:
        """(In the caller's unit of work.) `record` for each (inbox id, source, record key, change type,
        occurred_at, fields, now, lead id); returns the id of the last one."""
        last = 0
        for chunk in chunked(((inbox_id, source, key, kind, occurred_at, fields, row_time(now), lead_id)
                              for inbox_id, source, key, kind, occurred_at, fields, now, lead_id in changes),
                             ROWS_PER_STATEMENT):
            last = self.conn.db.execute(
                "INSERT INTO changes (inbox_id, source, record_key, change_type, occurred_at, fields, "  # noqa: S608
                f"recorded_at, lead_id) VALUES {value_rows(chunk, 8)}", flat(chunk)).lastrowid
        return last

    def set_lead(self, change_id: int, lead_id: int) -> None:
        """(In the caller's unit of work.) The lead a change turned out to be about."""
        self.conn.db.execute("UPDATE changes SET lead_id = ? WHERE id = ?", [lead_id, change_id])

    def count(self, change_type: str) -> int:
        return self.conn.db.execute("SELECT COUNT(*) FROM changes WHERE change_type = ?",
                                    [change_type]).fetchone()[0]

    def list(self, record_key: str | None = None, limit: int = 100) -> list[dict]:
        if record_key is None:
            return list(self.conn.db.query("SELECT * FROM changes ORDER BY id LIMIT ?", [limit]))
        return list(self.conn.db.query("SELECT * FROM changes WHERE record_key = ? ORDER BY id LIMIT ?",
                                       [record_key, limit]))

    def of_lead(self, lead_id: int, limit: int = 500) -> list[dict]:
        """The newest `limit` changes about the lead (from any system), oldest first."""
        found = self.conn.db.query("SELECT * FROM changes WHERE lead_id = ? ORDER BY occurred_at DESC, id DESC "
                                   "LIMIT ?", [lead_id, limit])
        return list(reversed(list(found)))
