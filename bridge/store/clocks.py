"""SLA clocks (one per lead and handoff cycle) as a leased queue of due times, and their log."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, chunked, flat, marks, rows, value_rows
from bridge.store.queue import LeasedQueue, LeaseLost

#: What the SLA report reads of a clock.
REPORT_COLUMNS = "id, lead_id, cycle, policy, state, started_at, deadline, touched_at, ended_at, ended_by, follow_ups"

class Clocks(LeasedQueue):
    table = "sla_clocks"
    noun = "timer"

    def start(self, lead_id: int, cycle: int, started_at: datetime) -> None:
        """(In the caller's unit of work.) The lead was handed off: its clock starts, due at once (the timer stage
        picks its policy and deadline). Once per cycle."""
        self.start_many([(lead_id, cycle)], started_at)

    def start_many(self, handoffs: Iterable[tuple[int, int]], started_at: datetime) -> None:
        """(In the caller's unit of work.) `start` for each (lead id, cycle) handed off at `started_at`, in a few
        statements (a burst of handoffs is evaluated a batch at a time)."""
        at = iso(started_at)
        for chunk in chunked(((lead_id, cycle, at, at) for lead_id, cycle in handoffs), ROWS_PER_STATEMENT):
            self.conn.db.execute("INSERT OR IGNORE INTO sla_clocks (lead_id, cycle, started_at, "  # noqa: S608
                                 f"next_attempt_at) VALUES {value_rows(chunk, 4)}", flat(chunk))

    def wake(self, lead_id: int, now: datetime) -> None:
        """(In the caller's unit of work.) A sales event arrived: assess the lead's open clock again, now."""
        self.conn.db.execute(
            "UPDATE sla_clocks SET next_attempt_at = ?, wakes = wakes + 1 WHERE lead_id = ? "
            "AND status IN ('pending', 'processing')", [iso(now), lead_id])

    def wake_all(self, now: datetime) -> int:
        """Every open clock is assessed again (the policies or the calendar changed); how many."""
        with self.conn.transaction() as db:
            return db.execute("UPDATE sla_clocks SET next_attempt_at = ?, wakes = wakes + 1 "
                              "WHERE status IN ('pending', 'processing')", [iso(now)]).rowcount

    def claim(self, owner: str, now: datetime, lease_seconds: int, limit: int) -> list[dict[str, Any]]:
        """Lease up to `limit` clocks that are due, earliest first."""
        self.reap(now)
        # INDEXED BY: left to itself, SQLite prefers the equality on (status, deadline), then reads and sorts every
        # open clock, nearly all of them pending: 48 ms a scan with nothing due at 100,000 clocks (bench/sla.py),
        # 0.1 ms this way. The due-time index reads only the due ones, already in order.
        # Looked for first without the write lock: the lane polls, and most looks find nothing due.
        if self.conn.db.execute("SELECT 1 FROM sla_clocks INDEXED BY sla_clocks_due WHERE status = 'pending' "
                                "AND next_attempt_at <= ? LIMIT 1", [iso(now)]).fetchone() is None:
            return []
        with self.conn.transaction() as db:
            return rows(db.execute(
                "UPDATE sla_clocks SET status = 'processing', lease_owner = ?, lease_expires_at = ? WHERE id IN "
                "(SELECT id FROM sla_clocks INDEXED BY sla_clocks_due WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING *",
                [owner, iso(now + timedelta(seconds=lease_seconds)), iso(now), limit]))

    def settle(self, clock: dict[str, Any], owner: str, now: datetime, *, policy: str, state: str,
               deadline: datetime, touched_at: datetime | None, follow_ups: int, done: Sequence[str],
               due: datetime | None, ended_by: str | None) -> None:
        """(In the caller's unit of work.) The clock as assessed: ended (`ended_by` the event or action that ended
        it), due again at `due`, or waiting for sales (due None). A sales event that woke it meanwhile makes it
        due now. LeaseLost when another worker has it."""
        ended = ended_by is not None
        cursor = self.conn.db.execute(
            "UPDATE sla_clocks SET policy = ?, state = ?, deadline = ?, touched_at = ?, follow_ups = ?, done = ?, "
            "ended_by = ?, ended_at = ?, status = CASE WHEN ? THEN 'done' ELSE 'pending' END, "
            "finished_at = CASE WHEN ? THEN ? END, next_attempt_at = CASE WHEN wakes = ? THEN ? ELSE ? END, "
            "lease_owner = NULL, lease_expires_at = NULL, last_error = NULL "
            "WHERE id = ? AND status = 'processing' AND lease_owner = ?",
            [policy, state, iso(deadline), touched_at and iso(touched_at), follow_ups, json.dumps(list(done)),
             ended_by, iso(now) if ended else None, int(ended), int(ended), iso(now), clock["wakes"],
             None if ended or due is None else iso(due), iso(now), clock["id"], owner])
        if cursor.rowcount != 1:
            raise LeaseLost(f"timer {clock['id']} is no longer leased by {owner}")

    def log(self, lead_id: int, cycle: int, kind: str, at: datetime, details: dict[str, Any],
            notify: bool = False) -> None:
        """(In the caller's unit of work.) One entry of the clock's story; `notify`: people hear it (once)."""
        self.conn.db.execute(
            "INSERT INTO sla_log (lead_id, cycle, kind, at, details, notify) VALUES (?, ?, ?, ?, ?, ?)",
            [lead_id, cycle, kind, iso(at), json.dumps(details, ensure_ascii=False), int(notify)])

    def to_send(self, lead_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The notices of these leads not sent yet, oldest first."""
        ids = list(lead_ids)
        return list(self.conn.db.query(
            f"SELECT * FROM sla_log WHERE notify = 1 AND notified_at IS NULL AND lead_id IN ({marks(ids)}) "  # noqa: S608
            "ORDER BY id", ids)) if ids else []

    def sent(self, log_ids: Iterable[int], now: datetime) -> None:
        """(In the caller's unit of work.) These notices reached people."""
        ids = list(log_ids)
        if ids:
            self.conn.db.execute(f"UPDATE sla_log SET notified_at = ? WHERE id IN ({marks(ids)})",  # noqa: S608
                                 [iso(now), *ids])

    def of_lead(self, lead_id: int) -> list[dict[str, Any]]:
        return list(self.conn.db.query("SELECT * FROM sla_clocks WHERE lead_id = ? ORDER BY cycle", [lead_id]))

    def current(self, lead_id: int) -> dict[str, Any] | None:
        """The lead's newest clock."""
        found = list(self.conn.db.query(
            "SELECT * FROM sla_clocks WHERE lead_id = ? ORDER BY cycle DESC LIMIT 1", [lead_id]))
        return found[0] if found else None

    def story(self, lead_id: int) -> list[dict[str, Any]]:
        return list(self.conn.db.query("SELECT * FROM sla_log WHERE lead_id = ? ORDER BY id", [lead_id]))

    def events_of(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[str, str]]]:
        """The sales events (kind, occurred_at) of each (lead, cycle), oldest first: what the clocks time."""
        found: dict[tuple[int, int], list[tuple[str, str]]] = {}
        pairs = list(keys)
        for start in range(0, len(pairs), 400):  # SQLite's limit on bound variables
            chunk = pairs[start:start + 400]
            where = " OR ".join("(lead_id = ? AND cycle = ?)" for _ in chunk)
            for lead_id, cycle, kind, at in self.conn.db.execute(
                    f"SELECT lead_id, cycle, kind, occurred_at FROM sales_events WHERE {where} "  # noqa: S608
                    "ORDER BY occurred_at, id", [v for pair in chunk for v in pair]).fetchall():
                found.setdefault((lead_id, cycle), []).append((kind, at))
        return found

    def counts_by_state(self) -> dict[str, int]:
        return dict(self.conn.db.execute("SELECT state, COUNT(*) FROM sla_clocks GROUP BY state").fetchall())

    # -- the SLA page, /api/sla and /metrics --------------------------------------------------------
    def open_by_state(self) -> dict[str, int]:
        """Open clocks (not ended) by state: waiting (a clock just started too), breached, following_up."""
        return dict(self.conn.db.execute(
            "SELECT state, COUNT(*) FROM sla_clocks WHERE status != 'done' GROUP BY state").fetchall())

    def open_clocks(self) -> list[dict[str, Any]]:
        """The open clocks that have a policy and a deadline, earliest deadline first (the columns a report shows:
        a page over 100,000 clocks reads no more than it needs)."""
        return list(self.conn.db.query(
            f"SELECT {REPORT_COLUMNS} FROM sla_clocks WHERE status != 'done' AND policy IS NOT NULL "  # noqa: S608
            "AND policy != '' ORDER BY deadline, id"))

    def decided_since(self, since: datetime, now: datetime) -> list[dict[str, Any]]:
        """Timed clocks whose outcome came in [since, now]: first touched, ended, or their deadline passed untouched."""
        return list(self.conn.db.query(
            "SELECT * FROM sla_clocks WHERE policy IS NOT NULL AND policy != '' AND (touched_at >= :since "
            "OR ended_at >= :since OR (touched_at IS NULL AND deadline >= :since AND deadline <= :now)) "
            "ORDER BY id", {"since": iso(since), "now": iso(now)}))

    def breaches(self) -> int:
        """Breaches escalated, ever (one log entry each)."""
        return self.conn.db.execute("SELECT COUNT(*) FROM sla_log WHERE kind = 'breach'").fetchone()[0]

    def first_touch_minutes(self, since: datetime | None = None) -> dict[int, int]:
        """How many first touches came after how many business minutes ({minutes: count}), from the touched
        entries' `after` ("H:MM", measured when the touch was seen); only those at or after `since` when given."""
        after = "json_extract(details, '$.after')"
        return dict(self.conn.db.execute(
            f"SELECT CAST(substr({after}, 1, instr({after}, ':') - 1) AS INTEGER) * 60 "  # noqa: S608
            f"+ CAST(substr({after}, instr({after}, ':') + 1) AS INTEGER), COUNT(*) FROM sla_log "
            f"WHERE kind = 'touched' AND instr({after}, ':') > 0 AND at >= ? GROUP BY 1",
            [iso(since) if since else ""]).fetchall())

    def owner_records(self, lead_ids: Iterable[int], targets: Iterable[tuple[str, str]]
                      ) -> dict[int, dict[str, dict[str, Any]]]:
        """Many leads' records as last read, {lead_id: {system: fields}}, for the (system, object) pairs in
        `targets`: Leads.record_fields for a page of clocks at once (the newest record of each wins)."""
        ids, pairs = list(lead_ids), list(targets)
        found: dict[int, dict[str, dict[str, Any]]] = {}
        if not pairs:
            return found
        # `+system`: no index on these terms, so SQLite looks leads up by lead_id, not every record of the system.
        where = " OR ".join("(+system = ? AND +object = ?)" for _ in pairs)
        for start in range(0, len(ids), 400):  # SQLite's limit on bound variables
            chunk = ids[start:start + 400]
            for lead_id, system, fields in self.conn.db.execute(
                    f"SELECT lead_id, system, fields FROM lead_records WHERE lead_id IN ({marks(chunk)}) "  # noqa: S608
                    f"AND ({where}) ORDER BY id", [*chunk, *(v for pair in pairs for v in pair)]).fetchall():
                found.setdefault(lead_id, {})[system] = json.loads(fields) if fields else {}
        return found
