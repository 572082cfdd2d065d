"""Durable state: batches and file metadata in SQL (SQLite or PostgreSQL), file bytes
in a directory blob store. :func:`open_storage` picks the backend from the settings."""

from __future__ import annotations

from pathlib import Path

from .base import BlobStore, BlobTooLarge, Storage, StorageError
from .blobs import DirectoryBlobStore

SQLITE_FILENAME = "storage.db"

__all__ = [
    "BlobStore",
    "BlobTooLarge",
    "DirectoryBlobStore",
    "Storage",
    "StorageError",
    "open_blobs",
    "open_storage",
]


def open_storage(database_url: str | None, data_dir: Path) -> Storage:
    """``None`` (or ``sqlite:///PATH``) -> SQLite; ``postgresql://...`` -> PostgreSQL."""
    if not database_url:
        from .sqlite import SqliteStorage

        return SqliteStorage(data_dir / SQLITE_FILENAME)
    if database_url.startswith("sqlite:///"):
        from .sqlite import SqliteStorage

        return SqliteStorage(Path(database_url[len("sqlite:///") :]))
    if database_url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStorage

        return PostgresStorage(database_url)
    scheme = database_url.split(":", 1)[0]
    raise StorageError(f"unsupported database URL scheme {scheme!r} (use postgresql:// or sqlite:///)")


def open_blobs(data_dir: Path) -> DirectoryBlobStore:
    return DirectoryBlobStore(data_dir / "files")
