"""Two ``epistula serve`` processes sharing one Redis: together they never admit more
than the one limit (each alone would admit the whole limit)."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from conftest import body
from processes import ServeProcess
from real_parts import REDIS_ENV, require_service_url

from .conftest import needs_redis, unique_prefix

LIMIT = 20
SENT = 60


@needs_redis
def test_combined_rate_never_exceeds_the_limit(tmp_path: Path) -> None:
    env = {
        "EPISTULA_REDIS_URL": require_service_url(REDIS_ENV),
        "EPISTULA_REDIS_PREFIX": unique_prefix(),
        "EPISTULA_RATE_LIMITS": json.dumps([{"requests_per_minute": LIMIT}]),
    }
    replicas = [ServeProcess(tmp_path / name, env=env, wait=False) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.wait_ready()

        def send(i: int) -> tuple[int, int]:
            replica = replicas[i % 2]
            resp = httpx.post(replica.base_url + "/v1/messages", json=body(), headers=replica.headers(), timeout=30)
            return i % 2, resp.status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(send, range(SENT)))
        elapsed = time.monotonic() - started
    finally:
        for replica in replicas:
            replica.stop()

    assert {status for _, status in results} <= {200, 429}
    admitted = [replica for replica, status in results if status == 200]
    # The bucket holds LIMIT and refills LIMIT per minute: during the burst at most
    # ceil(LIMIT * elapsed / 60) more can have been admitted, by both replicas together.
    assert LIMIT <= len(admitted) <= LIMIT + math.ceil(LIMIT * elapsed / 60)
    assert set(admitted) == {0, 1}  # both replicas admitted some and drew on the same bucket
