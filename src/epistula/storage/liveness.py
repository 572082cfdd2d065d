"""Batch worker liveness: a lock a worker holds for its process's lifetime, which the
operating system (SQLite) or the database server (PostgreSQL) drops when the process
dies, however it dies. Another process can then tell that the dead worker's
``running`` requests are orphans at once, instead of waiting for a lease to time out.

* SQLite: an exclusive ``flock`` on ``<db>.workers/<worker>.lock``.
* PostgreSQL: a session advisory lock on a connection of its own, outside the pool
  (a pooled connection would outlive the worker and keep the lock). After a lost
  connection the locks are taken again on a new one; while they were gone, another
  process may have reclaimed the worker's requests, and the worker's later completions
  then find them re-owned and are discarded, so nothing is answered twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import zlib
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, func, select

from .database import Database

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
LOCK_NAMESPACE = 0x45504953
"""``EPIS``: the first key of every advisory lock epistula takes."""


class WorkerLiveness(Protocol):
    def hold(self, worker_id: str) -> None:
        """Take the worker's lock (raises if another live process holds it)."""
        ...

    def drop(self, worker_id: str) -> None:
        """Release the worker's lock (ours, or a dead worker's taken by ``is_dead``)."""
        ...

    def is_dead(self, worker_id: str) -> bool:
        """True when no process holds the worker's lock; the lock is then ours until ``drop``."""
        ...

    def close(self) -> None:
        """Release every lock (a stopping process)."""
        ...


class LockFiles:
    """SQLite: ``flock`` on files next to the database."""

    def __init__(self, db_path: Path) -> None:
        self._dir = db_path.with_name(db_path.name + ".workers")
        self._dir.mkdir(mode=0o700, exist_ok=True)
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def _path(self, worker_id: str) -> Path:
        return self._dir / f"{_UNSAFE.sub('_', worker_id)}.lock"

    def hold(self, worker_id: str) -> None:
        with self._lock:
            if worker_id in self._held:
                return
            fd = os.open(self._path(worker_id), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._held[worker_id] = fd

    def drop(self, worker_id: str) -> None:
        with self._lock:
            fd = self._held.pop(worker_id, None)
            with contextlib.suppress(FileNotFoundError):
                self._path(worker_id).unlink()
            if fd is not None:
                os.close(fd)

    def is_dead(self, worker_id: str) -> bool:
        try:
            fd = os.open(self._path(worker_id), os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing also drops the lock we may just have taken
        return True

    def close(self) -> None:
        for worker_id in list(self._held):
            self.drop(worker_id)


def _worker_key(worker_id: str) -> int:
    """A 32-bit signed key for ``pg_advisory_lock(namespace, key)``."""
    return zlib.crc32(worker_id.encode()) - 2**31


class AdvisoryLocks:
    """PostgreSQL: session advisory locks on a dedicated connection."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        """The lock connection, replaced (and our locks taken again) after it was lost."""
        if self._conn is not None and not self._conn.closed and not self._conn.invalidated:
            raw = self._conn.connection.dbapi_connection
            if raw is not None and not raw.closed and not raw.broken:
                return self._conn
            self._conn.close()
        self._conn = self._db.dedicated_connection()
        for worker_id in self._held:
            self._conn.execute(select(func.pg_advisory_lock(LOCK_NAMESPACE, _worker_key(worker_id))))
        return self._conn

    def hold(self, worker_id: str) -> None:
        with self._lock:
            self._connection().execute(select(func.pg_advisory_lock(LOCK_NAMESPACE, _worker_key(worker_id))))
            self._held.add(worker_id)

    def drop(self, worker_id: str) -> None:
        with self._lock:
            self._held.discard(worker_id)
            self._connection().execute(select(func.pg_advisory_unlock(LOCK_NAMESPACE, _worker_key(worker_id))))

    def is_dead(self, worker_id: str) -> bool:
        with self._lock:
            query = select(func.pg_try_advisory_lock(LOCK_NAMESPACE, _worker_key(worker_id)))
            return bool(self._connection().scalar(query))

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            if self._conn is not None:
                self._conn.close()  # drops every session advisory lock with it
                self._conn = None


def worker_liveness(database: Database) -> WorkerLiveness:
    if database.path is not None:
        return LockFiles(database.path)
    return AdvisoryLocks(database)
