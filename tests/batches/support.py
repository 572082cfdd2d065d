"""Helpers shared by the batch, file and storage-contract suites.

* ``postgres_schema``: a private schema in the PostgreSQL database named by
  ``EPISTULA_TEST_POSTGRES_URL`` (dropped afterwards), so runs never see each other's rows.
* ``start_live``: an epistula app under uvicorn in a thread, on a real socket.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anthropic
import pytest

from conftest import serving
from epistula.config import Settings
from epistula.http.app import create_app
from epistula.storage.batches import BatchQuota, BatchRecord, BatchStore, NewRequest
from live import serve_in_thread
from real_parts import POSTGRES_ENV, needs_service, require_service_url

API_KEY = "sk-test"
T0 = 1_700_000_000.0
"""The clock of the tests that write to a store directly."""

needs_postgres = needs_service(POSTGRES_ENV)

BACKENDS = ["sqlite", pytest.param("postgres", marks=needs_postgres)]


def batch_request(custom_id: str, content: str, max_tokens: int = 32) -> dict[str, Any]:
    """One item of a batch's ``requests``: a single user turn (fake-engine directives welcome)."""
    params = {"model": "claude-haiku-4-5", "max_tokens": max_tokens, "messages": [{"role": "user", "content": content}]}
    return {"custom_id": custom_id, "params": params}


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose ``search_path`` is a fresh schema; dropped on exit."""
    import psycopg

    base = require_service_url(POSTGRES_ENV)
    schema = "t_" + secrets.token_hex(6)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    """``None`` (the SQLite default in the data dir) or a private PostgreSQL schema."""
    if backend == "sqlite":
        yield None
    else:
        with postgres_schema() as url:
            yield url


@dataclass
class Live:
    app: Any
    server: Any
    thread: threading.Thread
    base_url: str
    api_key: str = API_KEY

    @property
    def state(self) -> Any:
        return self.app.state.epistula

    def client(self, *, api_key: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 30.0)
        return anthropic.Anthropic(base_url=self.base_url, api_key=api_key or self.api_key, **kwargs)

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.api_key, "anthropic-version": "2023-06-01", **extra}

    def add_key(self, key: str, workspace_id: str) -> None:
        self.state.keys.workspaces.ensure(workspace_id)
        self.state.keys.add(key, name=f"test-{workspace_id}", workspace_id=workspace_id)

    def workspace_client(self) -> anthropic.Anthropic:
        """A client whose key belongs to a fresh workspace of its own (its lists see only
        what the test makes)."""
        key = "sk-ws-" + secrets.token_hex(8)
        self.add_key(key, "wrkspc_" + secrets.token_hex(6))
        return self.client(api_key=key)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_live(settings: Settings, *, startup_timeout: float = 60.0) -> Live:
    app = create_app(settings)
    server, thread, base_url = serve_in_thread(app, startup_timeout=startup_timeout)
    return Live(app=app, server=server, thread=thread, base_url=base_url)


def fake_settings(data_dir: Any, **overrides: Any) -> Settings:
    return Settings(engine="fake", api_key=API_KEY, data_dir=data_dir, **overrides)


@contextlib.contextmanager
def backend_server(backend: str, data_dir: Path, **overrides: Any) -> Iterator[Live]:
    """A live fake-engine server on ``backend``'s database (:func:`database_url`), stopped on exit."""
    with database_url(backend) as url:
        yield from serving(fake_settings(data_dir, database_url=url, **overrides), start=start_live)


def backend_fixture(name: str, data_prefix: str, **overrides: Any) -> Any:
    """A session fixture ``name``: a live fake-engine server per storage backend in
    :data:`BACKENDS` (its data dir ``{data_prefix}-{backend}``; ``overrides`` to its settings)."""

    @pytest.fixture(scope="session", params=BACKENDS, name=name)
    def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
        data_dir = tmp_path_factory.mktemp(f"{data_prefix}-{request.param}")
        with backend_server(request.param, data_dir, **overrides) as live:
            yield live

    return server


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} did not end in {timeout} s: {batch}")
        time.sleep(0.05)


def make_batch(
    store: BatchStore,
    batch_id: str,
    n: int = 3,
    *,
    workspace: str = "wrkspc_a",
    created: float = T0,
    key_id: str | None = None,
    quota: BatchQuota | None = None,
) -> BatchRecord:
    """An in-progress batch of ``n`` requests (``r0``, ``r1`` ...), written straight to the store."""
    requests = [NewRequest(custom_id=f"r{i}", params=json.dumps({"i": i})) for i in range(n)]
    record = BatchRecord(
        id=batch_id,
        workspace_id=workspace,
        api_version="2023-06-01",
        processing_status="in_progress",
        request_count=n,
        created_at=created,
        expires_at=created + 86400,
        created_by_key_id=key_id,
        params_bytes=sum(len(r.params) for r in requests),
    )
    store.create_batch(record, requests, quota)
    return record
