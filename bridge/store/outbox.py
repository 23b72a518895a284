"""The outbox queue: writes per lead to a target (a route, HubSpot, Slack), claimed in batches per target."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from bridge.kernel.clock import iso
from bridge.store.db import ROWS_PER_STATEMENT, chunked, flat, marks, row_time, rows, value_rows
from bridge.store.queue import LeasedQueue


class OutboxQueue(LeasedQueue):
    table = "outbox"
    noun = "write"
    has_fields = True

    def enqueue(self, lead_id: int, kind: str, target: str, now: datetime) -> None:
        """(In the caller's unit of work.) Queue a write for the lead; a no-op when the same write is already
        waiting. When it is being sent, it may have read the lead already: it is marked to be queued again once
        done (`complete_many`), so what changed meanwhile is written too."""
        self.enqueue_many([(lead_id, kind, target, now)])

    def enqueue_many(self, writes: Iterable[tuple[int, str, str, datetime]]) -> None:
        """(In the caller's unit of work.) `enqueue` for each (lead id, kind, target, now)."""
        for chunk in chunked(((lead_id, kind, target, row_time(now), row_time(now))
                              for lead_id, kind, target, now in writes), ROWS_PER_STATEMENT):
            # The conflict target is the partial unique index of open items (one per lead, kind and target).
            self.conn.db.execute("INSERT INTO outbox (lead_id, kind, target, next_attempt_at, "  # noqa: S608
                                 f"created_at) VALUES {value_rows(chunk, 5)} "
                                 "ON CONFLICT (lead_id, kind, target) WHERE status IN ('pending', 'processing') "
                                 "DO UPDATE SET again = 1 WHERE outbox.status = 'processing'", flat(chunk))

    def open_writes(self, lead_id: int, kind: str) -> int:
        return self.open_counts([lead_id], kind).get(lead_id, 0)

    def open_counts(self, lead_ids: Iterable[int], kind: str) -> dict[int, int]:
        """{lead id: writes of `kind` waiting or in flight} for those of the leads that have any."""
        found: dict[int, int] = {}
        for chunk in chunked(set(lead_ids)):
            found.update(self.conn.db.execute(
                f"SELECT lead_id, COUNT(*) FROM outbox WHERE lead_id IN ({marks(chunk)}) AND kind = ? "  # noqa: S608
                "AND status IN ('pending', 'processing') GROUP BY lead_id", [*chunk, kind]).fetchall())
        return found

    def complete_many(self, results: Iterable[tuple[int, str]], owner: str, now: datetime) -> int:
        """(In the caller's unit of work.) `complete` for each (item id, result) `owner` holds; returns how many
        were."""
        done = 0
        for chunk in chunked(results, ROWS_PER_STATEMENT):
            # (VALUES ...) names its columns column1, column2: a statement starting WITH gets no rowcount.
            done += self.conn.db.execute(
                "UPDATE outbox SET status = 'done', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL, "  # noqa: S608
                f"last_error = NULL, result = t.column2 FROM (VALUES {value_rows(chunk, 2)}) AS t "
                "WHERE outbox.id = t.column1 AND status = 'processing' AND lease_owner = ?",
                [iso(now), *flat(chunk), owner]).rowcount
            # Queued again while in flight: the write goes once more, with what changed meanwhile.
            ids = [item_id for item_id, _ in chunk]
            self.conn.db.execute(
                "INSERT OR IGNORE INTO outbox (lead_id, kind, target, next_attempt_at, created_at) "  # noqa: S608
                f"SELECT lead_id, kind, target, ?, ? FROM outbox WHERE id IN ({marks(ids)}) AND again = 1 "
                "AND status = 'done'", [row_time(now), row_time(now), *ids])
            self.conn.db.execute(f"UPDATE outbox SET again = 0 WHERE id IN ({marks(ids)}) AND again = 1",  # noqa: S608
                                 ids)
        return done

    def claim(self, owner: str, now: datetime, lease_seconds: int, batch_sizes: Mapping[str, int],
              linger: timedelta, targets: Collection[str] | None = None, other_than: Collection[str] = (),
              patience: Mapping[str, timedelta] | None = None) -> list[dict]:
        """Lease one batch of ready writes for one (kind, target): the group with the oldest ready item that is
        full or has waited `linger`. While leads still wait to be evaluated (a burst is being handed off), a batch
        that is not full waits longer for the next evaluated ones, up to its kind's `patience` (default: twice
        the linger): one call instead of two. Only `targets` when given, never those in `other_than` (each lane
        of the worker claims its own targets, so a slow target never holds up another)."""
        self.reap(now)
        now_s = iso(now)
        scope, params = "", []
        if targets is not None:
            scope, params = f" AND target IN ({marks(targets)})", list(targets)
        if other_than:
            scope += f" AND target NOT IN ({marks(other_than)})"
            params += list(other_than)
        # Which batch is ready is read without the write lock (lanes poll; most looks find nothing to take); the
        # claim itself is one statement, so a batch another worker took meanwhile is simply not returned.
        groups = self.conn.db.execute(
            "SELECT kind, target, COUNT(*), MIN(next_attempt_at) AS oldest FROM outbox "  # noqa: S608
            f"WHERE status = 'pending' AND next_attempt_at <= ?{scope} GROUP BY kind, target ORDER BY oldest",
            [now_s, *params]).fetchall()
        more_coming: bool | None = None  # looked up once, when a batch that is not full has waited `linger`
        for kind, target, ready, oldest in groups:
            size = batch_sizes.get(kind, 100)
            waits = (patience or {}).get(kind, 2 * linger)
            if ready < size and oldest <= iso(now - linger) and oldest > iso(now - waits):
                if more_coming is None:
                    more_coming = self.conn.db.execute("SELECT 1 FROM leads WHERE dirty = 1 LIMIT 1").fetchone() \
                        is not None
                if more_coming:
                    continue
            if ready >= size or oldest <= iso(now - linger):
                with self.conn.transaction() as db:
                    return sorted(rows(db.execute(
                        "UPDATE outbox SET status = 'processing', lease_owner = ?, lease_expires_at = ? "
                        "WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' "
                        "AND kind = ? AND target = ? AND next_attempt_at <= ? ORDER BY id LIMIT ?) RETURNING *",
                        [owner, iso(now + timedelta(seconds=lease_seconds)), kind, target, now_s, size])),
                        key=lambda item: item["id"])
        return []

    def dead_count(self, target: str) -> int:
        return self.conn.db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'dead' AND target = ?",
                                    [target]).fetchone()[0]
