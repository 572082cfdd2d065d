"""Limiter backends for the contract suite: in-process always, Redis when
``EPISTULA_TEST_REDIS_URL`` names a server (``.ci/redis.sh`` starts one).

Tests get a *factory* and run their scenario with ``asyncio.run``: a Redis client belongs
to the event loop that first used it, so each scenario makes (and closes) its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from epistula.limits.backend import InProcessLimiter, LimiterBackend
from real_parts import REDIS_ENV, needs_service, require_service_url

needs_redis = needs_service(REDIS_ENV)

BackendFactory = Callable[[], LimiterBackend]


def unique_prefix() -> str:
    """Each test gets its own Redis keys (the test server is shared and never flushed)."""
    return f"epistula-test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["inprocess", pytest.param("redis", marks=needs_redis)])
def make_backend(request: pytest.FixtureRequest) -> BackendFactory:
    if request.param == "inprocess":
        return InProcessLimiter
    from epistula.limits.redis_backend import RedisLimiter

    url = require_service_url(REDIS_ENV)
    prefix = unique_prefix()
    return lambda: RedisLimiter(url, prefix=prefix)
