"""File metadata; the bytes live in a :class:`~epistula.storage.blobs.BlobStore` under
the file id. Times are POSIX seconds passed in by the caller (stores never read a clock)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from .common import ListPage, PageQuery
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


class FileQuery(PageQuery, total=False):
    """The arguments of :meth:`FileStore.list_files` but the workspace and the clock."""

    ids: Sequence[str] | None


def _file(row: AnyRow) -> FileRecord:
    return from_row(FileRecord, row, downloadable=bool(row.downloadable))


class FileStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_file(self, record: FileRecord) -> None:
        with self._db.write() as conn:
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
        where = (files.c.workspace_id == workspace_id) & (files.c.expires_at.is_(None) | (files.c.expires_at > now))
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
