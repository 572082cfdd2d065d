"""SQLite storage in the data directory: the default, for a single server process.

WAL journal with ``synchronous=NORMAL``: a committed transaction survives the process
being killed (only a power cut can lose the last commits). Writes use ``BEGIN
IMMEDIATE`` so that two transactions never interleave their read-then-write steps.

Worker liveness uses lock files: a worker holds an exclusive ``flock`` on
``<db>.workers/<worker>.lock`` while it lives; the kernel drops the lock when the
process dies, however it dies, so another process (or the restarted server) can tell
that the worker's ``running`` requests are orphans.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .migrations import SQLITE
from .sql import Cursor, SqlStore

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@contextlib.contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[Cursor]:
    """One ``BEGIN IMMEDIATE`` transaction on an autocommit connection: committed on
    success, rolled back on any exception (shared by every SQLite store)."""
    cur = db.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        yield cur
    except BaseException:
        db.execute("ROLLBACK")
        raise
    else:
        db.execute("COMMIT")
    finally:
        cur.close()


class SqliteStorage(SqlStore):
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._workers_dir = path.with_name(path.name + ".workers")
        self._workers_dir.mkdir(exist_ok=True)
        self._held: dict[str, int] = {}
        self._migrate()
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()

    # ------------------------------------------------------------ connection

    def _transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        return immediate_transaction(self._db)

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        """Key verification's own connection: WAL readers never wait for a writer, nor
        for the main connection's lock."""
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            cur = self._reader.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def _migrate(self) -> None:
        with self._tx() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            applied = {row[0] for row in cur.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in SQLITE:
                if migration.version in applied:
                    continue
                for statement in migration.statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )

    def applied_migrations(self) -> list[int]:
        with self._tx() as cur:
            return [row[0] for row in cur.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def close(self) -> None:
        with self._lock:
            for worker_id in list(self._held):
                self._drop_worker_lock(worker_id)
            self._db.close()
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # ------------------------------------------------------------ worker liveness

    def _lock_path(self, worker_id: str) -> Path:
        return self._workers_dir / f"{_UNSAFE.sub('_', worker_id)}.lock"

    def _hold_worker_lock(self, worker_id: str) -> None:
        if worker_id in self._held:
            return
        fd = os.open(self._lock_path(worker_id), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._held[worker_id] = fd

    def _drop_worker_lock(self, worker_id: str) -> None:
        path = self._lock_path(worker_id)
        fd = self._held.pop(worker_id, None)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if fd is not None:
            os.close(fd)

    def _worker_is_dead(self, worker_id: str) -> bool:
        try:
            fd = os.open(self._lock_path(worker_id), os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing also drops the lock we may just have taken
        return True
