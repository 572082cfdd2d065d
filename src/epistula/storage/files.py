"""File metadata; the bytes live in a :class:`~epistula.storage.blobs.BlobStore` under
the file id. Times are POSIX seconds passed in by the caller (stores never read a clock)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select

from .common import ListPage, PageQuery, QuotaExceeded
from .database import Database
from .queries import AnyRow, from_row, keyset_page, to_row
from .schema import files


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    workspace_id: str
    filename: str
    mime_type: str
    size_bytes: int
    created_at: float
    downloadable: bool = False
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class FileQuota:
    """What one workspace may store in unexpired files (None: no limit)."""

    bytes: int | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    bytes: int
    count: int


class FileQuery(PageQuery, total=False):
    """The arguments of :meth:`FileStore.list_files` but the workspace and the clock."""

    ids: Sequence[str] | None


def _unexpired(workspace_id: str, now: float) -> ColumnElement[bool]:
    return (files.c.workspace_id == workspace_id) & (files.c.expires_at.is_(None) | (files.c.expires_at > now))


def _stored(conn: Connection, workspace_id: str, now: float) -> Stored:
    row = conn.execute(
        select(func.coalesce(func.sum(files.c.size_bytes), 0), func.count()).where(_unexpired(workspace_id, now))
    ).one()
    return Stored(bytes=int(row[0]), count=int(row[1]))


def check_file_quota(stored: Stored, size: int, quota: FileQuota) -> None:
    """Raise :class:`QuotaExceeded` if one more file of ``size`` bytes passes ``quota``."""
    if quota.count is not None and stored.count + 1 > quota.count:
        raise QuotaExceeded("file_count", quota.count, stored.count, 1)
    if quota.bytes is not None and stored.bytes + size > quota.bytes:
        raise QuotaExceeded("file_bytes", quota.bytes, stored.bytes, size)


def _file(row: AnyRow) -> FileRecord:
    return from_row(FileRecord, row, downloadable=bool(row.downloadable))


class FileStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def stored(self, workspace_id: str, now: float) -> Stored:
        """What the workspace's unexpired files hold."""
        with self._db.read() as conn:
            return _stored(conn, workspace_id, now)

    def add_file(self, record: FileRecord, quota: FileQuota | None = None) -> None:
        """Raises :class:`QuotaExceeded` (adding nothing) when the file does not fit ``quota``."""
        with self._db.write() as conn:
            if quota is not None:
                check_file_quota(_stored(conn, record.workspace_id, record.created_at), record.size_bytes, quota)
            conn.execute(insert(files).values(to_row(record)))

    def get_file(self, workspace_id: str, file_id: str) -> FileRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(files).where(files.c.id == file_id, files.c.workspace_id == workspace_id)).first()
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
        """Newest first, expired files left out; ``ids`` restricts the set (one page)."""
        where = _unexpired(workspace_id, now)
        with self._db.read() as conn:
            return keyset_page(conn, files, where, _file, limit=limit, before_id=before_id, after_id=after_id, ids=ids)

    def delete_file(self, workspace_id: str, file_id: str) -> bool:
        with self._db.write() as conn:
            result = conn.execute(delete(files).where(files.c.id == file_id, files.c.workspace_id == workspace_id))
        return result.rowcount == 1

    def expired_files(self, now: float, limit: int = 100) -> list[FileRecord]:
        query = select(files).where(files.c.expires_at.is_not(None), files.c.expires_at <= now)
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(files.c.seq).limit(limit)).all()
        return [_file(r) for r in rows]
