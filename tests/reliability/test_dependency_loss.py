"""Issue 11 (chaos, the fast and deterministic parts): losing Redis degrades rate limits to
"admit without limits" and they come back with Redis, without a restart; a disk that fills
during an upload gives a clean 500 envelope and leaves no partial file. The slow parts
(PostgreSQL restarted mid-traffic, SIGKILL mid-batch under load) are ``benchmarks/chaos.py``;
``docs/hardening.md`` records their results."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import LiveServer, body, fake_settings, running, server_fixture
from epistula.config import RateLimitConfig
from health import free_port
from real_parts import REDIS_ENV, needs_service

needs_redis = needs_service(REDIS_ENV)


class PrivateRedis:
    """A redis-server of this test's own, on a port of its own, that the test can kill and
    start again (the shared test Redis must not be touched)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is installed by .ci/redis.sh"
        self.binary, self.workdir, self.port = binary, workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def _limited(resp: httpx.Response) -> bool:
    return any(k.startswith("anthropic-ratelimit-") for k in resp.headers)


def _post(live: LiveServer) -> httpx.Response:
    return httpx.post(f"{live.base_url}/v1/messages", json=body("#say:ok", max_tokens=4), headers=live.headers())


@needs_redis
def test_losing_redis_admits_without_limits_and_limits_return_with_it(redis: PrivateRedis, tmp_path: Path) -> None:
    rules = [RateLimitConfig(requests_per_minute=2)]
    with running(fake_settings(tmp_path / "data", rate_limits=rules, redis_url=redis.url)) as live:
        assert [_post(live).status_code for _ in range(3)] == [200, 200, 429]
        redis.kill()
        down = _post(live)  # the bucket is empty, but its keeper is gone
        assert down.status_code == 200  # documented: admitted without limits, never a 5xx
        assert not _limited(down)
        redis.start()  # empty: every bucket full again
        after = [_post(live) for _ in range(4)]  # the first may still find the old connection dead
        assert [r.status_code for r in after if _limited(r)][:3] == [200, 200, 429]


class _FullDisk:
    """Writes to files under ``root`` fail with ENOSPC after ``room`` bytes, like a full disk."""

    def __init__(self, root: Path, room: int) -> None:
        self.root, self.room = str(root), room
        self.real = os.fdopen

    def fdopen(self, fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = self.real(fd, *args, **kwargs)
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(self.root):
            return handle
        room, write = self.room, handle.write

        def full_write(data: bytes) -> int:
            nonlocal room
            if len(data) > room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            room -= len(data)
            return int(write(data))

        handle.write = full_write
        return handle


files_server = server_fixture("files_server", "disk-full")


def test_a_disk_full_during_an_upload_is_a_clean_500_and_keeps_nothing(
    files_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = files_server.client()
    blobs = files_server.state.settings.data_dir / "files"
    monkeypatch.setattr(os, "fdopen", _FullDisk(blobs, room=1 << 20).fdopen)
    resp = httpx.post(
        files_server.base_url + "/v1/files",
        files={"file": ("big.txt", b"x" * (3 << 20), "text/plain")},
        headers={"x-api-key": files_server.api_key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert resp.status_code == 500, resp.text
    error = resp.json()
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "no space left" in error["error"]["message"]
    assert error["request_id"] == resp.headers["request-id"]
    assert [p for p in blobs.rglob("*") if p.is_file()] == []  # no partial blob, no temporary file
    assert client.beta.files.list().data == []
    monkeypatch.undo()  # space again: uploads work without a restart
    assert client.beta.files.upload(file=("ok.txt", b"fine", "text/plain")).size_bytes == 4
