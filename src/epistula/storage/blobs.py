"""A blob store in a directory: one file per key, sharded by the key's last characters.

Writes go to a temporary file in the same directory, are fsynced, then renamed over
the final name: a crash never leaves a partial blob under a real key, and readers
never see a half-written one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_CHUNK = 1 << 20


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class BlobStore(Protocol):
    """Opaque bytes by key. Writes are atomic: a reader sees the whole blob or none."""

    def write(self, key: str, source: BinaryIO, *, limit: int | None = None) -> int:
        """Copy ``source`` to ``key``; return the size. Raise :class:`BlobTooLarge` (and
        keep nothing) past ``limit`` bytes."""
        ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


class DirectoryBlobStore:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):  # keys are ids; anything else could escape the root
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key[-2:] / key

    def write(self, key: str, source: BinaryIO, *, limit: int | None = None) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BlobTooLarge(limit)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return size

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


def open_blobs(data_dir: Path) -> DirectoryBlobStore:
    """The file bytes of the server with this data directory."""
    return DirectoryBlobStore(data_dir / "files")
