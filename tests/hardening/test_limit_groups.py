"""Issue 11: token counts and batch items meet rate limits, each in its own limit group
(``token_count``, ``batch``), as on the real API; Messages rules (``model``) apply to
neither. A token count is refused before any file it names is read."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from conftest import MODEL, LiveServer, assert_error, body, server_fixture
from epistula.config import RateLimitConfig

ADMIN_KEY = "sk-epi-admin01-hardening-limit-groups"
V = {"anthropic-version": "2023-06-01"}


server = server_fixture(
    "server",
    "groups",
    admin_api_key=ADMIN_KEY,
    rate_limits=[
        RateLimitConfig(group="token_count", requests_per_minute=3),
        RateLimitConfig(group="batch", requests_per_minute=2),
        RateLimitConfig(requests_per_minute=1000),
    ],
    batch_concurrency=2,
)


def _admin(live: LiveServer, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{live.base_url}/v1/organizations{path}", json=payload, headers={"x-api-key": ADMIN_KEY, **V})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _new_key(live: LiveServer, name: str) -> str:
    workspace = _admin(live, "/workspaces", {"name": name})["id"]
    key: str = _admin(live, "/api_keys", {"name": name, "workspace_id": workspace})["key"]
    return key


def _count(live: LiveServer, key: str, content: Any = "hello") -> httpx.Response:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    return httpx.post(f"{live.base_url}/v1/messages/count_tokens", json=payload, headers={"x-api-key": key, **V})


def test_token_counts_have_their_own_limit_and_refuse_before_reading_files(server: LiveServer) -> None:
    key = _new_key(server, "counting")
    for left in (2, 1, 0):
        counted = _count(server, key)
        assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
        assert counted.headers["anthropic-ratelimit-requests-limit"] == "3"  # the token_count group's
        assert counted.headers["anthropic-ratelimit-requests-remaining"] == str(left)
    # The bucket is empty: a count naming a file that does not exist is refused with 429,
    # not 404, so nothing was read for it.
    missing = [{"type": "document", "source": {"type": "file", "file_id": "file_01missing"}}]
    error = assert_error(_count(server, key, missing), 429, "rate_limit_error", contains="token counting")
    assert "3 requests per minute" in error["error"]["message"]
    # Messages have their own bucket, untouched by the counts.
    client = server.client(api_key=key)
    assert client.messages.create(**body("#say:still here")).content[0].text == "still here"  # type: ignore[union-attr]
    with pytest.raises(anthropic.RateLimitError):
        client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])


def _batch(live: LiveServer, key: str, n: int) -> str:
    requests = [{"custom_id": f"r{i}", "params": body("#say:ok", max_tokens=8)} for i in range(n)]
    url = f"{live.base_url}/v1/messages/batches"
    resp = httpx.post(url, json={"requests": requests}, headers={"x-api-key": key, **V})
    assert resp.status_code == 200, resp.text
    batch_id: str = resp.json()["id"]
    return batch_id


def _progress(live: LiveServer, key: str, batch_id: str) -> tuple[str, int]:
    resp = httpx.get(f"{live.base_url}/v1/messages/batches/{batch_id}", headers={"x-api-key": key, **V})
    done, _ = resp.headers["x-epistula-batch-progress"].split("/")
    return resp.json()["processing_status"], int(done)


def _wait_done(live: LiveServer, key: str, batch_id: str, done: int) -> None:
    deadline = time.monotonic() + 30
    while _progress(live, key, batch_id)[1] < done:
        assert time.monotonic() < deadline, "the batch did not progress"
        time.sleep(0.05)


def test_batch_items_wait_for_their_workspace_limit_without_failing_or_blocking_others(server: LiveServer) -> None:
    busy, other = _new_key(server, "batch-busy"), _new_key(server, "batch-other")
    limited = _batch(server, busy, 5)
    _wait_done(server, busy, limited, 2)  # the bucket's 2 requests
    # Another workspace has its own bucket: its batch runs to the end meanwhile.
    small = _batch(server, other, 2)
    _wait_done(server, other, small, 2)
    assert _progress(server, other, small)[0] == "ended"
    # The limited batch waits (its refill is one request per 30 s); nothing errored.
    status, done = _progress(server, busy, limited)
    assert (status, done) == ("in_progress", 2)
    canceled = httpx.post(f"{server.base_url}/v1/messages/batches/{limited}/cancel", headers={"x-api-key": busy, **V})
    counts = canceled.json()["request_counts"]
    assert counts["errored"] == 0 and counts["succeeded"] == 2
