"""Issue 11 #7: per-workspace quotas on files (bytes and count) and on the batch queue,
checked before the expensive work, with the real API's errors; a default expiry for
uploads that name none."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path

import anthropic
import httpx
import pytest

from conftest import LiveServer, body, server_fixture
from epistula.api.request import PREFLIGHT_BYTES

V = {"anthropic-version": "2023-06-01"}


server = server_fixture(
    "server",
    "quotas",
    workspace_file_count=3,
    workspace_file_bytes=1000,
    workspace_batch_requests=3,
    file_default_expiry=7200,
    batch_concurrency=1,
)


def _announce_upload(live: LiveServer, length: int) -> tuple[int, bytes]:
    """Send only the headers of a big upload (no body) and read the answer."""
    url = httpx.URL(live.base_url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        head = (
            f"POST /v1/files HTTP/1.1\r\nhost: {url.host}\r\nx-api-key: {live.api_key}\r\n"
            f"anthropic-version: 2023-06-01\r\ncontent-type: multipart/form-data; boundary=x\r\n"
            f"content-length: {length}\r\nconnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


def _blobs(live: LiveServer) -> list[Path]:
    return [p for p in (live.state.settings.data_dir / "files").rglob("*") if p.is_file()]


def test_file_quotas_refuse_with_storage_quota_exceeded_and_keep_nothing(server: LiveServer) -> None:
    client = server.client()
    first = client.beta.files.upload(file=("a.txt", b"a" * 400, "text/plain"))
    created = datetime.fromisoformat(str(first.created_at))
    assert first.expires_at is not None  # the server's default expiry: 2 hours
    assert (datetime.fromisoformat(str(first.expires_at)) - created).total_seconds() == pytest.approx(7200, abs=2)
    client.beta.files.upload(file=("b.txt", b"b" * 400, "text/plain"))
    before = _blobs(server)
    with pytest.raises(anthropic.BadRequestError) as info:  # 800 + 400 bytes > 1000
        client.beta.files.upload(file=("c.txt", b"c" * 400, "text/plain"))
    error = info.value.body
    assert isinstance(error, dict) and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["details"]["error_code"] == "storage_quota_exceeded"
    assert _blobs(server) == before
    # Announced bytes that cannot fit are refused before the body is read.
    status, reply = _announce_upload(server, 9_000_000)
    assert status == 400 and b"storage_quota_exceeded" in reply
    client.beta.files.upload(file=("d.txt", b"d" * 100, "text/plain"))
    with pytest.raises(anthropic.BadRequestError, match="3 files"):  # the count
        client.beta.files.upload(file=("e.txt", b"e", "text/plain"))
    client.beta.files.delete(first.id)
    client.beta.files.upload(file=("f.txt", b"f", "text/plain"))  # room again


def test_the_batch_queue_quota_answers_429_before_validating(server: LiveServer) -> None:
    client = server.client()
    params = body("#slow:500", max_tokens=64)  # runs far longer than this test
    held = client.messages.batches.create(requests=[{"custom_id": "a", "params": params}] * 1)  # type: ignore[list-item]
    requests = [{"custom_id": f"r{i}", "params": {"not": "validated"}} for i in range(3)]
    resp = httpx.post(server.base_url + "/v1/messages/batches", json={"requests": requests}, headers=server.headers())
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"
    assert "3 requests in the batch processing queue" in resp.json()["error"]["message"]
    assert "retry-after" in resp.headers
    big = [{"custom_id": f"r{i}", "params": {"not": "validated", "pad": "x" * PREFLIGHT_BYTES}} for i in range(3)]
    checked = httpx.post(server.base_url + "/v1/messages/batches", json={"requests": big}, headers=server.headers())
    assert checked.status_code == 429, checked.text  # a big body's count too is checked before validation
    assert checked.json()["error"]["message"] == resp.json()["error"]["message"]
    fits = [{"custom_id": f"r{i}", "params": body("#say:ok", max_tokens=4)} for i in range(2)]
    client.messages.batches.create(requests=fits)  # type: ignore[arg-type]
    client.messages.batches.cancel(held.id)
