"""PostgreSQL storage, selected by a ``postgresql://`` database URL: several server
processes can share one database and split the batch work between them.

Workers claim requests with ``FOR UPDATE SKIP LOCKED`` (concurrent claims never block
each other and never return the same row). Worker liveness is a session-level advisory
lock held on the store's connection: PostgreSQL releases it when the connection dies,
which it does when the process dies, so survivors can reclaim the dead worker's
``running`` requests at once instead of waiting for a lease to time out.

Needs the optional dependency ``psycopg`` (``pip install 'epistula[postgres]'``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

from .base import StorageError
from .migrations import POSTGRES
from .sql import Cursor, SqlStore

_LOCK_NAMESPACE = 0x45504953  # "EPIS": the first key of every advisory lock we take


def _worker_key(worker_id: str) -> int:
    """A 32-bit signed key for ``pg_advisory_lock(namespace, key)``."""
    return zlib.crc32(worker_id.encode()) - 2**31


class PostgresStorage(SqlStore):
    backend = "postgres"
    _placeholder = "%s"
    _lock_rows = " FOR UPDATE"
    _claim_lock = " FOR UPDATE OF r SKIP LOCKED"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise StorageError("a postgresql:// database URL needs psycopg: pip install 'epistula[postgres]'") from exc
        self._psycopg = psycopg
        self._url = url
        self._held: set[str] = set()
        self._conn: Any = self._connect()
        self._migrate()
        self._reader: Any = None
        self._read_lock = threading.Lock()

    # ------------------------------------------------------------ connection

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._url, autocommit=True)
        except self._psycopg.OperationalError as exc:
            raise StorageError(f"cannot connect to the database: {exc}") from exc

    def _ensure_connected(self) -> None:
        """Reconnect after a lost connection and take the worker locks again (while they
        were gone, another process may have reclaimed our running requests; our later
        ``complete`` calls then find them re-owned and are discarded, so nothing is
        answered twice)."""
        if not (self._conn.closed or self._conn.broken):
            return
        self._conn = self._connect()
        for worker_id in self._held:
            self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, _worker_key(worker_id)))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        self._ensure_connected()
        with self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    @contextlib.contextmanager
    def _read(self) -> Iterator[Cursor]:
        """Key verification's own autocommit connection (every request on every replica
        reads through it), so it never queues behind a transaction on the main one."""
        with self._read_lock:
            if self._reader is None or self._reader.closed or self._reader.broken:
                try:  # bounded: it runs on the request path, so an unreachable server must fail fast
                    self._reader = self._psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                except self._psycopg.OperationalError as exc:
                    raise StorageError(f"cannot connect to the database: {exc}") from exc
            with self._reader.cursor() as cur:
                yield cur

    def _migrate(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_NAMESPACE,))
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            cur.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in cur.fetchall()}
            for migration in POSTGRES:
                if migration.version in applied:
                    continue
                for statement in migration.statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                )

    def applied_migrations(self) -> list[int]:
        with self._tx() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            return [row[0] for row in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            self._conn.close()  # drops every session advisory lock with it
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # ------------------------------------------------------------ worker liveness

    def _hold_worker_lock(self, worker_id: str) -> None:
        self._ensure_connected()
        self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, _worker_key(worker_id)))
        self._held.add(worker_id)

    def _drop_worker_lock(self, worker_id: str) -> None:
        self._held.discard(worker_id)
        self._ensure_connected()
        self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, _worker_key(worker_id)))

    def _worker_is_dead(self, worker_id: str) -> bool:
        """Taking the dead worker's lock succeeds; it stays ours until ``_drop_worker_lock``."""
        self._ensure_connected()
        row = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, _worker_key(worker_id))
        ).fetchone()
        return bool(row[0])
