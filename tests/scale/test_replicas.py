"""Two replicas as ``scripts/replicas.py`` starts them (``epistula serve`` processes on the fake
engine) sharing one PostgreSQL database, one Redis and one data directory, checked through
the official SDK: a key created through one replica authenticates (and is disabled) through
the other; the rate-limit bucket, and the ``anthropic-ratelimit-*`` headers reporting it, are
one; a batch created through one is run once and read through the other; a file uploaded
through one is read and deleted through the other; usage is reported the same by both."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from batches.support import needs_postgres, postgres_schema
from conftest import MODEL
from limits.conftest import needs_redis, unique_prefix
from real_parts import REDIS_ENV, require_service_url

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "replicas.py"
ADMIN_KEY = "sk-admin-replicas"
LIMIT = 20
"""Requests per minute per workspace: the bucket refills one request every 3 s."""
ITEMS = 6


@contextlib.contextmanager
def replicas(workdir: Path, database_url: str) -> Iterator[tuple[list[str], str]]:
    """The replicas' URLs and their API key; on exit SIGTERM, which drains them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
    env |= {
        "EPISTULA_ADMIN_API_KEY": ADMIN_KEY,
        "EPISTULA_LOG_LEVEL": "warning",
        "EPISTULA_REDIS_PREFIX": unique_prefix(),
        "EPISTULA_RATE_LIMITS": json.dumps([{"requests_per_minute": LIMIT}]),
    }
    command = [sys.executable, str(SCRIPT), "--engine", "fake", "--replicas", "2", "--port", "0"]
    command += ["--database-url", database_url, "--redis-url", require_service_url(REDIS_ENV)]
    proc = subprocess.Popen([*command, "--workdir", str(workdir)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        logs = "\n".join(p.read_text(errors="replace") for p in workdir.glob("replica*.log"))
        assert line, f"scripts/replicas.py exited with {proc.wait()}:\n{logs}"
        started = json.loads(line)
        yield started["replicas"], started["api_key"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def sdk(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=30.0)


def say(client: anthropic.Anthropic, text: str = "#say:ok") -> anthropic.types.Message:
    return client.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": text}])


def check_keys(admins: list[anthropic.Anthropic], urls: list[str]) -> tuple[str, list[anthropic.Anthropic], int]:
    """A key created through replica 0 works through 1; disabled through 1, it fails on 0.
    Returns the key's id, a client of it per replica and the output tokens it has used."""
    created: Any = admins[0].post("/v1/organizations/api_keys", body={"name": "svc"}, cast_to=object)
    clients = [sdk(url, created["key"]) for url in urls]
    spent = say(clients[1]).usage.output_tokens
    admins[1].organization.api_keys.update(created["id"], status="inactive")
    with pytest.raises(anthropic.AuthenticationError):
        say(clients[0])
    admins[0].organization.api_keys.update(created["id"], status="active")
    return str(created["id"]), clients, spent


def check_files(users: list[anthropic.Anthropic]) -> None:
    """Uploaded through replica 0, read by a message through 1, deleted through 1, gone on 0."""
    uploaded = users[0].beta.files.upload(file=("shared.txt", b"one data directory", "text/plain"))
    assert users[1].beta.files.retrieve_metadata(uploaded.id).size_bytes == len(b"one data directory")
    document: Any = {"type": "document", "source": {"type": "file", "file_id": uploaded.id}}
    reply = users[1].beta.messages.create(
        model=MODEL,
        max_tokens=400,
        messages=[{"role": "user", "content": [document, {"type": "text", "text": "Echo this."}]}],
        betas=["files-api-2025-04-14"],
    )
    assert "one data directory" in reply.content[0].text  # type: ignore[union-attr]  # the fake engine echoes
    users[1].beta.files.delete(uploaded.id)
    with pytest.raises(anthropic.NotFoundError):
        users[0].beta.files.retrieve_metadata(uploaded.id)


def check_batch(users: list[anthropic.Anthropic]) -> None:
    """Created through replica 0, followed and read through 1: every item answered exactly once."""
    requests: Any = [
        {
            "custom_id": f"r{i}",
            "params": {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": f"#say:{i}"}]},
        }
        for i in range(ITEMS)
    ]
    batch = users[0].messages.batches.create(requests=requests)
    deadline = time.monotonic() + 60
    while users[1].messages.batches.retrieve(batch.id).processing_status != "ended":
        assert time.monotonic() < deadline, "the batch did not end within 60 s"
        time.sleep(0.2)
    results = {r.custom_id: r.result for r in users[1].messages.batches.results(batch.id)}
    assert sorted(results) == [f"r{i}" for i in range(ITEMS)]
    for i, result in enumerate(results[f"r{i}"] for i in range(ITEMS)):
        assert result.type == "succeeded", result
        assert result.message.content[0].text == str(i)  # type: ignore[union-attr]
    ended = users[0].messages.batches.retrieve(batch.id).request_counts
    assert (ended.succeeded, ended.processing, ended.errored) == (ITEMS, 0, 0)


def output_tokens(url: str, key_id: str) -> int:
    params = {"starting_at": time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime()), "api_key_ids[]": key_id}
    headers = {"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"}
    resp = httpx.get(f"{url}/v1/organizations/usage_report/messages", params=params, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return sum(r["output_tokens"] for bucket in resp.json()["data"] for r in bucket["results"])


def check_usage(urls: list[str], key_id: str, clients: list[anthropic.Anthropic], spent: int) -> None:
    """One key's requests through both replicas are reported whole by each."""
    spent += say(clients[1]).usage.output_tokens + say(clients[0], "#say:more words").usage.output_tokens
    deadline = time.monotonic() + 30
    while [output_tokens(url, key_id) for url in urls] != [spent, spent]:
        assert time.monotonic() < deadline, ([output_tokens(url, key_id) for url in urls], spent)
        time.sleep(0.25)


def remaining(client: anthropic.Anthropic) -> int:
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "#say:x"}]
    )
    assert raw.headers["anthropic-ratelimit-requests-limit"] == str(LIMIT)
    return int(raw.headers["anthropic-ratelimit-requests-remaining"])


def check_rate_limit(users: list[anthropic.Anthropic]) -> None:
    """Ten requests through replica 0 show in replica 1's headers (its own bucket would be
    nearly full), and the two together are refused once the one bucket is empty."""
    for _ in range(10):
        remaining(users[0])
    # A bucket of its own would leave replica 1 LIMIT - 1 minus what it served itself (at
    # most 4 so far); refilling 5 requests would take 15 s.
    assert remaining(users[1]) < LIMIT - 1 - 4 - 5
    for i in range(2 * LIMIT):
        try:
            remaining(users[i % 2])
        except anthropic.RateLimitError as exc:
            assert exc.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
            assert float(exc.response.headers["retry-after"]) > 0
            return
    raise AssertionError(f"{2 * LIMIT} more requests through both replicas were all admitted")


@needs_postgres
@needs_redis
def test_two_replicas_share_keys_limits_batches_files_and_usage(tmp_path: Path) -> None:
    with postgres_schema() as database_url, replicas(tmp_path, database_url) as (urls, key):
        users = [sdk(url, key) for url in urls]
        key_id, clients, spent = check_keys([sdk(url, ADMIN_KEY) for url in urls], urls)
        check_files(users)
        check_batch(users)
        check_usage(urls, key_id, clients, spent)
        check_rate_limit(users)
