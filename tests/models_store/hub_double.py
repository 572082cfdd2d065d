"""A local stand-in for the Hugging Face hub's file API, serving real files.

What huggingface_hub and ``epistula models pull`` ask of a hub (``HF_ENDPOINT``):

- ``GET /api/models/<org>/<repo>/tree/<revision>``: the repository listing, with each LFS
  file's ``lfs.oid`` (its sha256) and size;
- ``HEAD``/``GET /<org>/<repo>/resolve/<revision>/<path>``: the file, with ``ETag``,
  ``X-Repo-Commit``, ``X-Linked-Etag`` and ``X-Linked-Size`` as the real hub sends them for
  LFS files, and ``Range`` requests answered ``206`` (resumed downloads).

``delay`` slows each megabyte (a download the test can kill halfway); ``corrupt`` flips a
byte of what is sent while the listing keeps the true sha256; ``ranges`` off ignores ``Range``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from serving import serving_in_thread

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HubDouble:
    def __init__(self, repo_id: str, files: dict[str, Path]) -> None:
        self.repo_id = repo_id
        self.files = files
        self.hashes = {name: sha256_of(path) for name, path in files.items()}
        self.delay = 0.0
        self.corrupt = False
        self.ranges = True
        """False: ``Range`` is ignored (a ``200`` with the whole file), as some mirrors do."""
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, Range header) of every request."""
        self.url = ""

    def tree(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "file",
                "path": name,
                "size": path.stat().st_size,
                "oid": hashlib.sha1(name.encode()).hexdigest(),  # a git blob id; never checked
                "lfs": {"oid": self.hashes[name], "size": path.stat().st_size, "pointerSize": 134},
            }
            for name, path in self.files.items()
        ]


def _handler(hub: HubDouble) -> type[BaseHTTPRequestHandler]:
    tree_path = re.compile(rf"^/api/models/{re.escape(hub.repo_id)}/tree/[^/?]+(\?.*)?$")
    resolve = re.compile(rf"^/{re.escape(hub.repo_id)}/resolve/[^/]+/(?P<path>[^?]+)$")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _record(self) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))

        def do_HEAD(self) -> None:
            self._record()
            self._file(body=False)

        def do_GET(self) -> None:
            self._record()
            if tree_path.match(self.path):
                data = json.dumps(hub.tree()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self._file(body=True)

        def _file(self, *, body: bool) -> None:
            match = resolve.match(self.path)
            name = match["path"] if match else ""
            if name not in hub.files:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, size = hub.files[name], hub.files[name].stat().st_size
            start = 0
            ranged = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
            if ranged and body and hub.ranges:
                start = int(ranged[1])
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self.send_response(206 if start else 200)
            self.send_header("ETag", f'"{hub.hashes[name]}"')
            self.send_header("X-Linked-Etag", f'"{hub.hashes[name]}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            if body:
                self._send(path, start)

        def _send(self, path: Path, start: int) -> None:
            with path.open("rb") as f:
                f.seek(start)
                offset = start
                while chunk := f.read(CHUNK):
                    if hub.corrupt and offset <= 4096 < offset + len(chunk):
                        flipped = bytearray(chunk)
                        flipped[4096 - offset] ^= 0xFF
                        chunk = bytes(flipped)
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    offset += len(chunk)
                    if hub.delay:
                        time.sleep(hub.delay)

    return Handler


@contextmanager
def serve_hub(repo_id: str, files: dict[str, Path]) -> Iterator[HubDouble]:
    hub = HubDouble(repo_id, files)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    server.daemon_threads = True
    with serving_in_thread(server) as port:
        hub.url = f"http://127.0.0.1:{port}"
        yield hub
