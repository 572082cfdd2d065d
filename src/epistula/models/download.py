"""One file over HTTP into a content-addressed blob: resumable, verified, atomic.

huggingface_hub (2.x) downloads into a temporary file unique to each process, so a killed
pull starts from zero. Here the partial download has a stable name, ``<blob>.incomplete``,
and the next pull continues it with a ``Range`` request. The sha256 covers the whole file
(the kept part is hashed before the transfer resumes); a mismatch deletes the partial file
and nothing reaches the blob's name.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import httpx

from .errors import DownloadError, IntegrityError

CHUNK = 1 << 20


class Progress(Protocol):
    """Where a download reports its bytes (the command line draws a bar)."""

    def begin(self, name: str, total: int, done: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def end(self) -> None: ...


def _hash_existing(path: Path) -> tuple[int, hashlib._Hash]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as kept:
        while chunk := kept.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest


def fetch(
    url: str,
    blob: Path,
    *,
    size: int | None,
    sha256: str | None,
    headers: Mapping[str, str],
    progress: Progress,
    name: str,
) -> None:
    """Download ``url`` to ``blob`` unless it is there; continue a partial download."""
    if blob.is_file():
        return
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(blob.name + ".incomplete")
    done, digest = _hash_existing(partial) if partial.is_file() else (0, hashlib.sha256())
    if size is not None and done > size:
        partial.unlink()
        done, digest = 0, hashlib.sha256()
    request_headers = {**headers, "Accept-Encoding": "identity"}
    if done:
        request_headers["Range"] = f"bytes={done}-"
    try:
        done, actual = _transfer(url, partial, request_headers, done, digest, size, progress, name)
    except httpx.TransportError as exc:
        raise DownloadError(f"{name}: {exc} (run the pull again to resume)") from exc
    _verify(partial, done, size, sha256, actual, name)
    os.replace(partial, blob)


def _transfer(
    url: str,
    partial: Path,
    headers: dict[str, str],
    done: int,
    digest: hashlib._Hash,
    size: int | None,
    progress: Progress,
    name: str,
) -> tuple[int, str]:
    """GET ``url`` onto the end of ``partial``; the bytes there and the sha256 of them all."""
    timeout = httpx.Timeout(30.0, read=120.0)
    with (
        httpx.Client(follow_redirects=True, timeout=timeout) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        status = response.status_code
        if status == 200 and done:
            done, digest = 0, hashlib.sha256()  # the server ignored the range: start over
        elif status not in (200, 206) and not (status == 416 and done == size):
            raise DownloadError(f"GET {url} answered {status}")
        total = size if size is not None else done + int(response.headers.get("Content-Length", 0))
        progress.begin(name, total, done)
        with partial.open("ab" if done else "wb") as out:
            if status != 416:  # 416: everything is there already, only the check remains
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    progress.advance(len(chunk))
        progress.end()
    return done, digest.hexdigest()


def _verify(partial: Path, done: int, size: int | None, expected: str | None, actual: str, name: str) -> None:
    if size is not None and done != size:
        raise IntegrityError(f"{name}: {done} bytes received, {size} expected (run the pull again to resume)")
    if expected is not None and actual != expected.lower():
        partial.unlink(missing_ok=True)
        raise IntegrityError(f"{name}: sha256 {actual} is not the published {expected}; the download was deleted")
