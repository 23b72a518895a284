"""Connections to the one SQLite file (WAL, one per thread and process), write transactions and savepoints."""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from itertools import count
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bridge.kernel.clock import iso
from bridge.kernel.errors import StoreUnavailable


class Connections:
    """Each thread (and each forked process) gets its own connection; writers take turns, threads of one process
    on a lock and processes on a lock file, before BEGIN IMMEDIATE, so a transaction never fails halfway on BUSY.

    A transaction opened while the same thread is already in one joins it (commits with it), so an operation
    that brings its own transaction can also run inside a caller's unit of work.
    """

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, synchronous: str = "FULL"):
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous  # FULL: a commit is on disk before anything is acknowledged
        self._local = threading.local()
        # Threads of one process queue here for the write lock: SQLite's own busy handler would make
        # them sleep in 1-50 ms steps instead, which caps ingest throughput under concurrency.
        self.write_lock = threading.Lock()
        self._lock_fd: tuple[int, int] | None = None  # (pid, descriptor) of the write-lock file
        self._savepoints = count()

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
        self._local.db, self._local.pid, self._local.depth = Database(conn), os.getpid(), 0
        return self._local.db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @property
    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0)) and self._local.pid == os.getpid()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception); inside one, joins it."""
        if self.in_transaction:
            yield self.db
            return
        with self.write_lock, self.writers_turn(), self.immediate() as db:
            yield db

    @contextmanager
    def immediate(self) -> Iterator[Database]:
        """BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any exception; the caller has its writer's turn."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for a writer outside Bridge (a backup, sqlite3)
        self._local.depth = 1
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:  # a failed COMMIT can leave it open, and the thread's next BEGIN would fail
                db.conn.rollback()
            raise
        finally:
            self._local.depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo only what the block did when it raises (the exception goes on)."""
        db, name = self.db, f"sp{next(self._savepoints)}"
        db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
            raise
        db.execute(f"RELEASE {name}")

    @contextmanager
    def writers_turn(self) -> Iterator[None]:
        """Writers of every Bridge process on this database (web workers, the worker, commands) take turns on an
        flock of `<database>-write.lock` before BEGIN IMMEDIATE, within busy_timeout.

        SQLite's own busy handler makes a process that finds the database locked sleep 1, 2, 5 ... 100 ms
        between tries, so under load it wakes late and loses the lock to the other process again and again:
        measured as 80-230 ms in BEGIN IMMEDIATE (the ingest p99). Here a waiter looks every 0.1 ms.
        Threads of one process already queue on `write_lock`, so one descriptor per process is enough.
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

    def check_writable(self, timeout_ms: int) -> None:
        """Take the write lock and give it back (BEGIN IMMEDIATE, rolled back) within about `timeout_ms`;
        raise StoreUnavailable saying why not."""
        if not self.write_lock.acquire(timeout=timeout_ms / 1000):
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
            self.write_lock.release()


def rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows as dicts keyed by column name (for UPDATE ... RETURNING)."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def marks(values: Iterable[Any]) -> str:
    """`?, ?, ?` for an IN list: only placeholders are ever formatted into a statement."""
    return ", ".join("?" for _ in values)


#: `iso` for the rows of a batch, which carry a few distinct times: each is formatted once (strftime is slow).
row_time = functools.lru_cache(maxsize=256)(iso)


def value_rows(rows: list[tuple], width: int) -> str:
    """`(?, ?), (?, ?)` for a VALUES list of `rows` tuples of `width` values each."""
    row = f"({', '.join('?' * width)})"
    return ", ".join(row for _ in rows)


def flat(rows: Iterable[tuple]) -> list[Any]:
    """The values of `rows`, one after another, as a VALUES list binds them."""
    return [value for row in rows for value in row]


#: Rows per multi-row statement: under the 999 bound values older SQLite builds allow, for rows of up to 9 values.
ROWS_PER_STATEMENT = 100


def chunked(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """Lists of at most `size`: far below SQLite's bound-variable limit."""
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (0600), before SQLite creates it with the umask's
    mode (often 0644): it holds leads' personal data. SQLite gives the -wal and -shm files the same mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    # It exists (the common case), or something else is wrong that sqlite3.connect reports in its own words.
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
