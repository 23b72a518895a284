"""One leased queue for the inbox, the outbox and the timers: lease, complete, retry at a due time, bury, replay.

Every queue table has the columns status (pending | processing | done | dead), attempts, next_attempt_at,
first_failed_at, lease_owner, lease_expires_at, last_error and finished_at. A queue claims with its own policy
(record order for the inbox, batches per target for the outbox, due times for timers); everything after the
claim is the same for all of them and lives here.

Retries are by time, not by count: `retry(failed=False)` (a rate limit, a pause) moves the due time and costs
nothing; `retry(failed=True)` counts an attempt and remembers when the item first failed, so the caller can
bury it once it has failed for long enough (bridge/worker/retry.py decides).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import Connections, marks

STATUSES = ("pending", "processing", "done", "dead")
OPEN = ("pending", "processing")


class LeaseLost(Exception):
    """Another worker took the item over (this worker's lease expired): this worker's result must be discarded."""


class LeasedQueue:
    """The operations every queue shares; `table` is fixed by the subclass, never taken from input."""

    table: str
    noun: str  # "event", "write", "timer": what the queue's messages call an item
    has_fields = False  # whether the table keeps the fields a permanent error names

    def __init__(self, conn: Connections):
        self.conn = conn

    # -- leases ---------------------------------------------------------------------------------
    def reap(self, now: datetime) -> int:
        """Put items whose lease expired (their worker stopped mid-way) back in the queue, due now. Looks first
        without the write lock: every claim reaps, and an idle lane must not queue for the lock to find nothing."""
        if self.conn.db.execute(f"SELECT 1 FROM {self.table} WHERE status = 'processing' "  # noqa: S608
                                "AND lease_expires_at <= ? LIMIT 1", [iso(now)]).fetchone() is None:
            return 0
        with self.conn.transaction() as db:
            return db.execute(
                f"UPDATE {self.table} SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, "  # noqa: S608
                f"last_error = 'lease expired: the worker stopped mid-{self.noun}' "
                "WHERE status = 'processing' AND lease_expires_at <= ?", [iso(now)]).rowcount

    def complete(self, item_id: int, owner: str, now: datetime, result: str | None = None) -> None:
        """Done (in the caller's unit of work); LeaseLost when another worker holds the item now."""
        cursor = self.conn.db.execute(
            f"UPDATE {self.table} SET status = 'done', finished_at = ?, lease_owner = NULL, "  # noqa: S608
            f"lease_expires_at = NULL, last_error = NULL{', result = ?' if result is not None else ''} "
            "WHERE id = ? AND status = 'processing' AND lease_owner = ?",
            [iso(now), *([result] if result is not None else []), item_id, owner])
        if cursor.rowcount != 1:
            raise LeaseLost(f"{self.noun} {item_id} is no longer leased by {owner}")

    def retry(self, item_id: int, owner: str, now: datetime, at: datetime, error: str, *, failed: bool,
              fields: Sequence[str] = ()) -> None:
        """Back in the queue, due `at`. `failed`: the attempt failed (counted, and the first failure remembered);
        not failed: the system asked us to wait (a rate limit), which costs no attempt."""
        self.conn.db.execute(
            f"UPDATE {self.table} SET status = 'pending', next_attempt_at = ?, last_error = ?, "  # noqa: S608
            "lease_owner = NULL, lease_expires_at = NULL, attempts = attempts + ?, "
            "first_failed_at = CASE WHEN ? THEN COALESCE(first_failed_at, ?) ELSE first_failed_at END"
            f"{self._fields_clause(fields)} WHERE id = ? AND lease_owner = ?",
            [iso(at), error[:2000], int(failed), int(failed), iso(now), *self._fields_value(fields), item_id, owner])

    def bury(self, item_id: int, owner: str, now: datetime, error: str, fields: Sequence[str] = ()) -> None:
        """A dead letter: it stays, with the reason (and the fields named), until replayed."""
        self.conn.db.execute(
            f"UPDATE {self.table} SET status = 'dead', last_error = ?, finished_at = ?, lease_owner = NULL, "  # noqa: S608
            f"lease_expires_at = NULL, attempts = attempts + 1{self._fields_clause(fields)} "
            "WHERE id = ? AND lease_owner = ?",
            [error[:2000], iso(now), *self._fields_value(fields), item_id, owner])

    def release(self, item_ids: Iterable[int], owner: str, at: datetime) -> None:
        """Hand back claimed items that were not attempted (they wait behind a failed one), due `at`."""
        ids = list(item_ids)
        if ids:
            self.conn.db.execute(
                f"UPDATE {self.table} SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, "  # noqa: S608
                f"lease_expires_at = NULL WHERE lease_owner = ? AND id IN ({marks(ids)})", [iso(at), owner, *ids])

    def _fields_clause(self, fields: Sequence[str]) -> str:
        return ", fields = ?" if fields and self.has_fields else ""

    def _fields_value(self, fields: Sequence[str]) -> list[str]:
        return [json.dumps(list(fields))] if fields and self.has_fields else []

    # -- dead letters -------------------------------------------------------------------------------
    def replay(self, item_ids: Iterable[int] | None, now: datetime) -> int:
        """Queue dead letters again, due now, with a fresh count: the given ids (none matches nothing), or all
        when None. A dead letter whose work is already queued again stays dead (it is covered)."""
        where, params = "status = 'dead'", []
        if item_ids is not None:
            params = list(item_ids)
            where = f"status = 'dead' AND id IN ({marks(params)})" if params else "0"
        with self.conn.transaction() as db:
            return db.execute(
                f"UPDATE OR IGNORE {self.table} SET status = 'pending', attempts = 0, first_failed_at = NULL, "  # noqa: S608
                f"next_attempt_at = ?, finished_at = NULL, last_error = NULL{self._clear_fields} WHERE {where}",
                [iso(now), *params]).rowcount

    @property
    def _clear_fields(self) -> str:
        return ", fields = NULL" if self.has_fields else ""

    # -- inspection ---------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Items by status, every status present."""
        found = dict(self.conn.db.execute(f"SELECT status, COUNT(*) FROM {self.table} GROUP BY status").fetchall())  # noqa: S608
        return {status: found.get(status, 0) for status in STATUSES}

    def items(self, status: str | None = None, limit: int = 100, newest_first: bool = True,
              **equal: Any) -> list[dict[str, Any]]:
        """Items, optionally of one status and with columns equal to the given values (names are the caller's,
        never a request's)."""
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        for column, value in equal.items():
            clauses.append(f"{column} = ?")
            params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        return list(self.conn.db.query(f"SELECT * FROM {self.table} {where} ORDER BY id {order} LIMIT ?",  # noqa: S608
                                       [*params, limit]))

    def get(self, item_id: int) -> dict[str, Any] | None:
        found = list(self.conn.db.query(f"SELECT * FROM {self.table} WHERE id = ?", [item_id]))  # noqa: S608
        return found[0] if found else None
