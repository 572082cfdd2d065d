"""The SQL both backends share: one implementation of the store contracts, with small
dialect hooks for what really differs (placeholders, row locking, worker liveness).

Keeping a single implementation is the point: SQLite (the default) and PostgreSQL (for
several server processes on one database) then cannot drift apart, and the contract
suite in ``tests/contract`` runs the same assertions against both.

Lock order, to stay deadlock-free on PostgreSQL: a transaction that touches a batch row
and its request rows locks the batch row first. ``claim`` locks only request rows (with
``SKIP LOCKED``, so concurrent workers never wait on each other).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .base import (
    CANCELED_RESULT,
    EXPIRED_RESULT,
    BatchRecord,
    ClaimedRequest,
    DeleteOutcome,
    FileRecord,
    FinalStatus,
    ListPage,
    NewRequest,
    Progress,
    RequestCounts,
    RequestResult,
)
from .tenancy_sql import TenancySql


class Cursor(Protocol):
    """What both ``sqlite3`` and ``psycopg`` cursors provide."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Any, /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


_BATCH_COLS = (
    "id, workspace_id, api_version, processing_status, request_count, created_at, expires_at, "
    "ended_at, cancel_initiated_at, archived_at, n_succeeded, n_errored, n_canceled, n_expired"
)
_FILE_COLS = "id, workspace_id, filename, mime_type, size_bytes, created_at, downloadable, expires_at"
_OPEN = "('pending', 'running')"


def _batch(row: Sequence[Any]) -> BatchRecord:
    status = row[3]
    final = None
    if status == "ended":
        final = RequestCounts(processing=0, succeeded=row[10], errored=row[11], canceled=row[12], expired=row[13])
    return BatchRecord(
        id=row[0],
        workspace_id=row[1],
        api_version=row[2],
        processing_status=status,
        request_count=row[4],
        created_at=row[5],
        expires_at=row[6],
        ended_at=row[7],
        cancel_initiated_at=row[8],
        archived_at=row[9],
        final_counts=final,
    )


def _file(row: Sequence[Any]) -> FileRecord:
    return FileRecord(
        id=row[0],
        workspace_id=row[1],
        filename=row[2],
        mime_type=row[3],
        size_bytes=row[4],
        created_at=row[5],
        downloadable=bool(row[6]),
        expires_at=row[7],
    )


class SqlStore(TenancySql):
    """Implements :class:`~epistula.storage.base.Storage` over a DB-API connection.

    One connection per store, guarded by a lock: in-process concurrency is the event
    loop's threads, and statements are short. Cross-process safety comes from the
    database (SQLite's write lock, PostgreSQL's row locks).
    """

    backend = "sql"
    _placeholder = "?"
    _lock_rows = ""
    """Appended to a SELECT of one batch row inside a write transaction."""
    _claim_lock = ""
    """Appended to the claim SELECT."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    # ------------------------------------------------------------ dialect hooks

    def _transaction(self) -> contextlib.AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _hold_worker_lock(self, worker_id: str) -> None:
        raise NotImplementedError

    def _drop_worker_lock(self, worker_id: str) -> None:
        raise NotImplementedError

    def _worker_is_dead(self, worker_id: str) -> bool:
        raise NotImplementedError

    def applied_migrations(self) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Cursor]:
        with self._lock, self._transaction() as cur:
            yield cur

    def _q(self, sql: str) -> str:
        return sql if self._placeholder == "?" else sql.replace("?", self._placeholder)

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._q(sql), tuple(params))
        return cur

    def _closed(self, cur: Cursor, batch_id: str, n: int, now: float) -> None:
        """``n`` requests of the batch reached a final state: keep ``open_count`` exact
        (a counter, because counting the open rows on every completion is quadratic in
        the batch size), and end the batch, freezing its tallies, when it reaches zero.
        Callers hold the batch row lock, so two last completions cannot both miss it."""
        if n <= 0:
            return
        self._exec(cur, "UPDATE batches SET open_count = open_count - ? WHERE id = ?", (n, batch_id))
        row = self._exec(cur, "SELECT open_count FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row[0] > 0:
            return
        rows = self._exec(
            cur, "SELECT status, count(*) FROM batch_requests WHERE batch_id = ? GROUP BY status", (batch_id,)
        ).fetchall()
        tally = {status: n for status, n in rows}
        self._exec(
            cur,
            "UPDATE batches SET processing_status = 'ended', ended_at = ?, n_succeeded = ?, n_errored = ?,"
            " n_canceled = ?, n_expired = ? WHERE id = ? AND processing_status <> 'ended'",
            (
                now,
                tally.get("succeeded", 0),
                tally.get("errored", 0),
                tally.get("canceled", 0),
                tally.get("expired", 0),
                batch_id,
            ),
        )

    def _lock_batch(self, cur: Cursor, batch_id: str, workspace_id: str | None = None) -> Any:
        sql = f"SELECT {_BATCH_COLS} FROM batches WHERE id = ?"
        params: list[Any] = [batch_id]
        if workspace_id is not None:
            sql += " AND workspace_id = ?"
            params.append(workspace_id)
        return self._exec(cur, sql + self._lock_rows, params).fetchone()

    def _page(
        self,
        cur: Cursor,
        table: str,
        cols: str,
        where: str,
        params: list[Any],
        *,
        limit: int,
        before_id: str | None,
        after_id: str | None,
    ) -> tuple[list[Any], bool]:
        """Keyset pagination over the insertion sequence, newest first."""
        if after_id or before_id:
            cursor_id = after_id or before_id
            row = self._exec(cur, f"SELECT seq FROM {table} WHERE id = ? AND {where}", [cursor_id, *params]).fetchone()
            if row is None:
                return [], False
            if after_id:
                rows = self._exec(
                    cur,
                    f"SELECT {cols} FROM {table} WHERE {where} AND seq < ? ORDER BY seq DESC LIMIT ?",
                    [*params, row[0], limit + 1],
                ).fetchall()
                return list(rows[:limit]), len(rows) > limit
            rows = self._exec(
                cur,
                f"SELECT {cols} FROM {table} WHERE {where} AND seq > ? ORDER BY seq ASC LIMIT ?",
                [*params, row[0], limit + 1],
            ).fetchall()
            return list(reversed(rows[:limit])), len(rows) > limit
        rows = self._exec(
            cur, f"SELECT {cols} FROM {table} WHERE {where} ORDER BY seq DESC LIMIT ?", [*params, limit + 1]
        ).fetchall()
        return list(rows[:limit]), len(rows) > limit

    # ------------------------------------------------------------ batches (API side)

    def create_batch(self, batch: BatchRecord, requests: Sequence[NewRequest]) -> None:
        with self._tx() as cur:
            row = self._exec(
                cur,
                "INSERT INTO batches (id, workspace_id, api_version, processing_status, request_count, open_count,"
                " created_at, expires_at) VALUES (?, ?, ?, 'in_progress', ?, ?, ?, ?) RETURNING seq",
                (
                    batch.id,
                    batch.workspace_id,
                    batch.api_version,
                    len(requests),
                    len(requests),
                    batch.created_at,
                    batch.expires_at,
                ),
            ).fetchone()
            seq = row[0]
            cur.executemany(
                self._q(
                    "INSERT INTO batch_requests (batch_id, idx, batch_seq, custom_id, params, status)"
                    " VALUES (?, ?, ?, ?, ?, 'pending')"
                ),
                [(batch.id, i, seq, r.custom_id, r.params) for i, r in enumerate(requests)],
            )

    def get_batch(self, workspace_id: str, batch_id: str) -> BatchRecord | None:
        with self._tx() as cur:
            row = self._exec(
                cur, f"SELECT {_BATCH_COLS} FROM batches WHERE id = ? AND workspace_id = ?", (batch_id, workspace_id)
            ).fetchone()
        return _batch(row) if row else None

    def list_batches(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[BatchRecord]:
        with self._tx() as cur:
            rows, more = self._page(
                cur,
                "batches",
                _BATCH_COLS,
                "workspace_id = ?",
                [workspace_id],
                limit=limit,
                before_id=before_id,
                after_id=after_id,
            )
        return ListPage([_batch(r) for r in rows], more)

    def progress(self, batch_id: str) -> Progress:
        with self._tx() as cur:
            row = self._exec(cur, "SELECT request_count, open_count FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            return Progress(total=0, done=0)
        return Progress(total=row[0], done=row[0] - row[1])

    def cancel_batch(self, workspace_id: str, batch_id: str, now: float) -> BatchRecord | None:
        with self._tx() as cur:
            row = self._lock_batch(cur, batch_id, workspace_id)
            if row is None:
                return None
            if row[3] == "in_progress":
                self._exec(
                    cur,
                    "UPDATE batches SET processing_status = 'canceling', cancel_initiated_at = ? WHERE id = ?",
                    (now, batch_id),
                )
                canceled = self._exec(
                    cur,
                    "UPDATE batch_requests SET status = 'canceled', result = ?, finished_at = ?, params = NULL"
                    " WHERE batch_id = ? AND status = 'pending'",
                    (CANCELED_RESULT, now, batch_id),
                ).rowcount
                self._closed(cur, batch_id, canceled, now)
            row = self._lock_batch(cur, batch_id)
        return _batch(row)

    def delete_batch(self, workspace_id: str, batch_id: str) -> DeleteOutcome:
        with self._tx() as cur:
            row = self._lock_batch(cur, batch_id, workspace_id)
            if row is None:
                return "not_found"
            if row[3] != "ended":
                return "not_ended"
            self._exec(cur, "DELETE FROM batch_requests WHERE batch_id = ?", (batch_id,))
            self._exec(cur, "DELETE FROM batches WHERE id = ?", (batch_id,))
        return "deleted"

    def results(self, batch_id: str, *, after_index: int = -1, limit: int = 500) -> list[RequestResult]:
        with self._tx() as cur:
            rows = self._exec(
                cur,
                "SELECT idx, custom_id, status, result FROM batch_requests WHERE batch_id = ? AND idx > ?"
                " ORDER BY idx LIMIT ?",
                (batch_id, after_index, limit),
            ).fetchall()
        return [RequestResult(index=r[0], custom_id=r[1], status=r[2], result=r[3]) for r in rows]

    # ------------------------------------------------------------ batches (worker side)

    def register_worker(self, worker_id: str) -> None:
        with self._lock:
            self._hold_worker_lock(worker_id)

    def unregister_worker(self, worker_id: str) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE batch_requests SET status = 'pending', worker_id = NULL, claimed_at = NULL"
                " WHERE status = 'running' AND worker_id = ?",
                (worker_id,),
            )
        with self._lock:
            self._drop_worker_lock(worker_id)

    def claim(self, worker_id: str, limit: int, now: float) -> list[ClaimedRequest]:
        if limit <= 0:
            return []
        with self._tx() as cur:
            rows = self._exec(
                cur,
                "SELECT r.batch_id, r.idx, r.custom_id, r.params FROM batch_requests r"
                " WHERE r.status = 'pending' ORDER BY r.batch_seq, r.idx LIMIT ?" + self._claim_lock,
                (limit,),
            ).fetchall()
            if not rows:
                return []
            cur.executemany(
                self._q(
                    "UPDATE batch_requests SET status = 'running', worker_id = ?, claimed_at = ?"
                    " WHERE batch_id = ? AND idx = ? AND status = 'pending'"
                ),
                [(worker_id, now, r[0], r[1]) for r in rows],
            )
            owners: dict[str, tuple[str, str]] = {}
            for batch_id in {r[0] for r in rows}:
                b = self._exec(
                    cur, "SELECT workspace_id, api_version FROM batches WHERE id = ?", (batch_id,)
                ).fetchone()
                owners[batch_id] = (b[0], b[1])
        return [
            ClaimedRequest(
                batch_id=r[0],
                index=r[1],
                custom_id=r[2],
                params=r[3],
                workspace_id=owners[r[0]][0],
                api_version=owners[r[0]][1],
            )
            for r in rows
        ]

    def complete(self, worker_id: str, batch_id: str, index: int, status: FinalStatus, result: str, now: float) -> bool:
        with self._tx() as cur:
            if self._lock_batch(cur, batch_id) is None:
                return False
            cur.execute(
                self._q(
                    "UPDATE batch_requests SET status = ?, result = ?, finished_at = ?, params = NULL"
                    " WHERE batch_id = ? AND idx = ? AND status = 'running' AND worker_id = ?"
                ),
                (status, result, now, batch_id, index, worker_id),
            )
            if cur.rowcount != 1:
                return False
            self._closed(cur, batch_id, 1, now)
        return True

    def release(self, worker_id: str, batch_id: str, index: int) -> bool:
        with self._tx() as cur:
            cur.execute(
                self._q(
                    "UPDATE batch_requests SET status = 'pending', worker_id = NULL, claimed_at = NULL"
                    " WHERE batch_id = ? AND idx = ? AND status = 'running' AND worker_id = ?"
                ),
                (batch_id, index, worker_id),
            )
            return cur.rowcount == 1

    def recover_orphans(self, worker_id: str) -> int:
        with self._tx() as cur:
            rows = self._exec(cur, "SELECT DISTINCT worker_id FROM batch_requests WHERE status = 'running'").fetchall()
        recovered = 0
        for (owner,) in rows:
            if owner == worker_id or owner is None:
                continue
            with self._lock:
                if not self._worker_is_dead(owner):
                    continue
                with self._tx() as cur:
                    cur.execute(
                        self._q(
                            "UPDATE batch_requests SET status = 'pending', worker_id = NULL, claimed_at = NULL"
                            " WHERE status = 'running' AND worker_id = ?"
                        ),
                        (owner,),
                    )
                    recovered += max(cur.rowcount, 0)
                self._drop_worker_lock(owner)
        return recovered

    def expire_batches(self, now: float) -> int:
        with self._tx() as cur:
            due = self._exec(
                cur, "SELECT id FROM batches WHERE processing_status <> 'ended' AND expires_at <= ?", (now,)
            ).fetchall()
        for (batch_id,) in due:
            with self._tx() as cur:
                if self._lock_batch(cur, batch_id) is None:
                    continue
                expired = self._exec(
                    cur,
                    "UPDATE batch_requests SET status = 'expired', result = ?, finished_at = ?, params = NULL"
                    f" WHERE batch_id = ? AND status IN {_OPEN}",
                    (EXPIRED_RESULT, now, batch_id),
                ).rowcount
                self._closed(cur, batch_id, expired, now)
        return len(due)

    def purge_batches(self, created_before: float, now: float) -> int:
        with self._tx() as cur:
            due = self._exec(
                cur,
                "SELECT id FROM batches WHERE processing_status = 'ended' AND archived_at IS NULL AND created_at < ?",
                (created_before,),
            ).fetchall()
        for (batch_id,) in due:
            with self._tx() as cur:
                self._lock_batch(cur, batch_id)
                self._exec(cur, "DELETE FROM batch_requests WHERE batch_id = ?", (batch_id,))
                self._exec(cur, "UPDATE batches SET archived_at = ? WHERE id = ?", (now, batch_id))
        return len(due)

    # ------------------------------------------------------------ files

    def add_file(self, record: FileRecord) -> None:
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO files (id, workspace_id, filename, mime_type, size_bytes, created_at, downloadable,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.workspace_id,
                    record.filename,
                    record.mime_type,
                    record.size_bytes,
                    record.created_at,
                    record.downloadable,
                    record.expires_at,
                ),
            )

    def get_file(self, workspace_id: str, file_id: str) -> FileRecord | None:
        with self._tx() as cur:
            row = self._exec(
                cur, f"SELECT {_FILE_COLS} FROM files WHERE id = ? AND workspace_id = ?", (file_id, workspace_id)
            ).fetchone()
        return _file(row) if row else None

    def list_files(
        self,
        workspace_id: str,
        *,
        limit: int,
        now: float,
        before_id: str | None = None,
        after_id: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> ListPage[FileRecord]:
        where = "workspace_id = ? AND (expires_at IS NULL OR expires_at > ?)"
        params: list[Any] = [workspace_id, now]
        if ids is not None:
            if not ids:
                return ListPage([], False)
            where += f" AND id IN ({', '.join('?' for _ in ids)})"
            params.extend(ids)
        with self._tx() as cur:
            rows, more = self._page(
                cur, "files", _FILE_COLS, where, params, limit=limit, before_id=before_id, after_id=after_id
            )
        return ListPage([_file(r) for r in rows], more)

    def delete_file(self, workspace_id: str, file_id: str) -> bool:
        with self._tx() as cur:
            cur.execute(self._q("DELETE FROM files WHERE id = ? AND workspace_id = ?"), (file_id, workspace_id))
            return cur.rowcount == 1

    def expired_files(self, now: float, limit: int = 100) -> list[FileRecord]:
        with self._tx() as cur:
            rows = self._exec(
                cur,
                f"SELECT {_FILE_COLS} FROM files WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_file(r) for r in rows]
