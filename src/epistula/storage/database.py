"""Opening the database: the one place that creates the engine, from the settings'
``database_url`` and data directory, and brings the schema up to date.

* No URL (or ``sqlite:///PATH``): SQLite, ``storage.db`` in the data directory. WAL
  journal with ``synchronous=NORMAL`` (a committed transaction survives the process
  being killed), a 30 s busy timeout, foreign keys on. The data directory is created
  ``0700`` and the database file ``0600`` (SQLite gives its ``-wal``/``-shm`` files the
  same mode). Write transactions start with ``BEGIN IMMEDIATE``, so two never
  interleave their read-then-write steps, and in-process writers queue on a lock rather
  than in SQLite's busy loop; reads use plain deferred transactions (WAL readers never
  wait for a writer).
* ``postgresql://``, ``postgres://`` or ``postgresql+psycopg://``: PostgreSQL through
  psycopg 3, for several server processes on one database. Each connection gets a
  ``statement_timeout`` (a read may ask for a shorter one: the key lookup of every
  request does, so a stuck database cannot pin authentication) and a connect timeout;
  dead pooled connections are replaced on checkout.

The stores of each feature take the :class:`Database` and run every method in one
transaction (:meth:`Database.write` or :meth:`Database.read`), so a crash leaves the old
state or the new one, never half of a change.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from .common import StorageError

SQLITE_FILENAME = "storage.db"
STATEMENT_TIMEOUT_MS = 30_000
"""PostgreSQL: a statement running longer is cancelled (its transaction rolls back)."""
CONNECT_TIMEOUT_S = 5
"""PostgreSQL: how long opening a connection may take (an unreachable server fails fast)."""
BUSY_TIMEOUT_MS = 30_000
"""SQLite: how long a writer waits for another process's write lock."""

Backend = Literal["sqlite", "postgres"]


def database_url(database_url: str | None, data_dir: Path) -> URL:
    """The SQLAlchemy URL for the settings' ``database_url`` (the forms they accept)."""
    if not database_url:
        return URL.create("sqlite+pysqlite", database=str(data_dir / SQLITE_FILENAME))
    scheme, sep, rest = database_url.partition("://")
    if sep and scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return make_url(f"postgresql+psycopg://{rest}")
    if sep and scheme in ("sqlite", "sqlite+pysqlite") and rest.startswith("/"):
        return URL.create("sqlite+pysqlite", database=rest[1:])
    scheme = database_url.split(":", 1)[0]
    raise StorageError(f"unsupported database URL scheme {scheme!r} (use postgresql:// or sqlite:///)")


class Database:
    """An engine on the schema's database, migrated to the newest revision."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.backend: Backend = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
        self.path = Path(engine.url.database or "") if self.backend == "sqlite" else None
        """The SQLite database file (None on PostgreSQL)."""
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.backend == "sqlite" else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write: committed on success, rolled back on any error."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def read(self, *, statement_timeout_ms: int | None = None) -> Iterator[Connection]:
        """A read-only transaction (on SQLite, a deferred one that takes no write lock).
        ``statement_timeout_ms``: on PostgreSQL, this transaction's statements are cancelled
        after that long (lock waits included) instead of the connection's default."""
        with self.engine.connect() as conn:
            conn.execution_options(epistula_read_only=True)
            with conn.begin():
                if statement_timeout_ms is not None and self.backend == "postgres":
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
                yield conn

    def dedicated_connection(self) -> Connection:
        """An autocommit connection outside the pool, closed for real when closed (for
        session state such as PostgreSQL advisory locks, which must die with it)."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.detach()
        return conn

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _private_sqlite_file(path: Path) -> None:
    """The directory ``0700`` when we create it, the database file ``0600``."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def _sqlite_engine(url: URL) -> Engine:
    path = Path(url.database or "")
    _private_sqlite_file(path)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by sqlite3
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("epistula_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise StorageError("a postgresql:// database URL needs psycopg: pip install 'epistula[postgres]'") from exc
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        dbapi_connection.autocommit = autocommit

    return engine


def open_database(url: str | None, data_dir: Path) -> Database:
    """Connect and migrate (see :mod:`epistula.storage.migrate`); raises
    :class:`StorageError` for a bad URL, an unreachable server or a failed migration."""
    from .migrate import upgrade

    sa_url = database_url(url, data_dir)
    if not data_dir.exists():
        data_dir.mkdir(mode=0o700, parents=True)
    engine = _sqlite_engine(sa_url) if sa_url.get_backend_name() == "sqlite" else _postgres_engine(sa_url)
    database = Database(engine)
    try:
        with database.write() as conn:
            upgrade(conn)
    except OperationalError as exc:
        database.close()
        raise StorageError(f"cannot open the database: {exc.orig}") from exc
    except BaseException:
        database.close()
        raise
    return database
