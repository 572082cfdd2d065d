"""Issue 11 #4: on PostgreSQL the key lookup of every request has a short statement
timeout, so a locked or stuck database answers a 500 envelope within seconds instead of
pinning the worker thread (and, with enough of them, authentication) for 30 s."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from batches.support import needs_postgres, postgres_schema
from conftest import LiveServer, fake_settings, running

pytestmark = needs_postgres

LOOKUP_BOUND = 10.0
"""Seconds a lookup may take while the table is locked (generous: the timeout is 2 s,
the connection default 30 s)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    with postgres_schema() as url, running(fake_settings(tmp_path_factory.mktemp("pg-auth"), database_url=url)) as live:
        yield live, url


def test_a_locked_key_table_fails_fast_and_auth_recovers(server: tuple[LiveServer, str]) -> None:
    live, url = server
    assert httpx.get(live.base_url + "/v1/models", headers=live.headers()).status_code == 200
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        import psycopg

        with psycopg.connect(url) as conn, conn.transaction():
            conn.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(60)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        resp = httpx.get(live.base_url + "/v1/models", headers=live.headers(), timeout=LOOKUP_BOUND)
        assert resp.status_code == 500
        assert resp.json()["error"]["type"] == "api_error"
    finally:
        release.set()
        holder.join()
    assert httpx.get(live.base_url + "/v1/models", headers=live.headers()).status_code == 200
