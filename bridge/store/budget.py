"""The API budget shared by every Bridge process: calls per system and pool counted in the database, so two
workers and a nightly job together stay under each system's limits, and handoffs are never the ones kept waiting.

Each call spends one row; a pool's window holds the calls of the last `limit.seconds`. A priority class may use
only its share of a window (bridge/kernel/budget.py: handoff all of it, sales feedback 80 %, reconciliation and
backfill half), so when the window fills up, the lower classes stop first and the rest is left to handoffs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.kernel.budget import Limit, current_priority
from bridge.kernel.clock import iso, parse_iso
from bridge.kernel.errors import RateLimited
from bridge.store.db import Connections


class SharedBudget:
    """The budget protocol of bridge/kernel/budget.py, kept in the database."""

    def __init__(self, conn: Connections):
        self.conn = conn

    def take(self, system: str, pool: str, limit: Limit | None, now: datetime) -> None:
        """Spend one call of `pool`, or raise RateLimited(retry_after) saying when this priority may call again.
        A pool without a limit (a token request) is not kept: nothing is shared about it. A fixed window (a daily
        quota) is kept as a rolling one: stricter, never looser."""
        if limit is None:
            return
        priority = current_priority()
        allowed = limit.allowance(priority)
        start = now - timedelta(seconds=limit.seconds)
        with self.conn.transaction() as db:
            db.execute("DELETE FROM api_calls WHERE system = ? AND pool = ? AND at <= ?", [system, pool, iso(start)])
            used = db.execute("SELECT COUNT(*) FROM api_calls WHERE system = ? AND pool = ? AND at > ?",
                              [system, pool, iso(start)]).fetchone()[0]
            if used >= allowed:
                # Room for one more call once the oldest calls over the allowance have left the window.
                freed = db.execute("SELECT at FROM api_calls WHERE system = ? AND pool = ? AND at > ? "
                                   "ORDER BY at LIMIT 1 OFFSET ?",
                                   [system, pool, iso(start), used - allowed]).fetchone()[0]
                wait = (parse_iso(freed) - start).total_seconds()
                raise RateLimited(system, f"{pool}: {used} of {limit.calls} calls in {limit.seconds:g} s used "
                                  f"({priority} may use {allowed}); waiting for the window",
                                  retry_after=max(wait, 0.001))
            db.execute("INSERT INTO api_calls (system, pool, priority, at, calls_limit, window_seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?)", [system, pool, priority, iso(now), limit.calls, limit.seconds])

    def usage(self, now: datetime) -> list[dict]:
        """Per system and pool: calls in the current window, the limit, and the window in seconds (/metrics)."""
        found = []
        for system, pool, calls_limit, window in self.conn.db.execute(
                "SELECT system, pool, MAX(calls_limit), MAX(window_seconds) FROM api_calls GROUP BY system, pool"):
            used = self.conn.db.execute("SELECT COUNT(*) FROM api_calls WHERE system = ? AND pool = ? AND at > ?",
                                        [system, pool, iso(now - timedelta(seconds=window))]).fetchone()[0]
            found.append({"system": system, "pool": pool, "used": used, "limit": calls_limit, "window": window})
        return found
