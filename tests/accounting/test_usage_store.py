"""The usage store contract, on SQLite always and PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set (a private schema per test): rows in, exact
sums out, per UTC minute/hour/day bucket, grouped and filtered."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batches.support import BACKENDS, postgres_schema
from epistula.accounting.records import TokenCounts, UsageRecord
from epistula.accounting.usage_store import UsageQuery, UsageStore
from epistula.storage.database import Database, open_database

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

Opener = Callable[[], UsageStore]
ROW_TOKENS = TokenCounts(10, 5, 1, 2, 3)


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens usage stores on one database (several = several processes)."""
    opened: list[Database] = []
    with postgres_schema() if request.param == "postgres" else contextlib.nullcontext() as url:

        def open_one() -> UsageStore:
            opened.append(open_database(url, tmp_path))
            return UsageStore(opened[-1])

        try:
            yield open_one
        finally:
            for database in opened:
                database.close()


def row(
    t: float,
    *,
    ws: str = "wrkspc_a",
    key: str | None = "apikey_1",
    model: str = "m1",
    tier: str = "standard",
    tokens: TokenCounts = ROW_TOKENS,
    request_id: str = "req_x",
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        created_at=t,
        workspace_id=ws,
        api_key_id=key,
        model=model,
        service_tier=tier,  # type: ignore[arg-type]
        batch=tier == "batch",
        outcome="succeeded",
        tokens=tokens,
        latency_ms=12.5,
        ttft_ms=3.0,
    )


def test_a_new_database_has_no_usage(opener: Opener) -> None:
    store = opener()
    assert store.count() == 0


def test_sums_are_exact_and_survive_reopening(opener: Opener) -> None:
    store = opener()
    store.insert([row(T0 + i, tokens=TokenCounts(i, 2 * i, 3, 4, 5)) for i in range(100)])
    again = opener()  # another process (its own engine and connections)
    assert again.count() == 100
    (group,) = again.aggregate(UsageQuery(start=T0, end=T0 + DAY))
    assert group.bucket_start is None and group.requests == 100
    assert group.tokens == TokenCounts(4950, 9900, 300, 400, 500)


def test_bucket_boundaries_are_half_open(opener: Opener) -> None:
    store = opener()
    store.insert([row(T0 - 0.001), row(T0), row(T0 + 59.999), row(T0 + 60), row(T0 + 3600), row(T0 + DAY)])
    minutes = store.aggregate(UsageQuery(start=T0, end=T0 + DAY, bucket_seconds=60))
    assert [(g.bucket_start, g.requests) for g in minutes] == [(T0, 2), (T0 + 60, 1), (T0 + 3600, 1)]
    hours = store.aggregate(UsageQuery(start=T0 - 3600, end=T0 + DAY + 1, bucket_seconds=3600))
    assert [(g.bucket_start, g.requests) for g in hours] == [(T0 - 3600, 1), (T0, 3), (T0 + 3600, 1), (T0 + DAY, 1)]
    days = store.aggregate(UsageQuery(start=T0 - DAY, end=T0 + 2 * DAY, bucket_seconds=86400))
    assert [(g.bucket_start, g.requests) for g in days] == [(T0 - DAY, 1), (T0, 4), (T0 + DAY, 1)]


def test_group_by_and_filters(opener: Opener) -> None:
    store = opener()
    store.insert(
        [
            row(T0, ws="wrkspc_a", key="apikey_1", model="m1"),
            row(T0 + 1, ws="wrkspc_a", key="apikey_2", model="m2"),
            row(T0 + 2, ws="wrkspc_b", key="apikey_3", model="m1"),
            row(T0 + 3, ws="wrkspc_a", key=None, model="m1", tier="batch"),
        ]
    )
    q = UsageQuery(start=T0, end=T0 + 60, group_by=("workspace_id", "api_key_id"))
    got = [(g.keys["workspace_id"], g.keys["api_key_id"], g.requests) for g in store.aggregate(q)]
    assert got == [
        ("wrkspc_a", None, 1),
        ("wrkspc_a", "apikey_1", 1),
        ("wrkspc_a", "apikey_2", 1),
        ("wrkspc_b", "apikey_3", 1),
    ]

    q = UsageQuery(start=T0, end=T0 + 60, group_by=("model", "service_tier"), filters={"workspace_id": ["wrkspc_a"]})
    got = [(g.keys["model"], g.keys["service_tier"], g.tokens.uncached_input_tokens) for g in store.aggregate(q)]
    assert got == [("m1", "batch", 10), ("m1", "standard", 10), ("m2", "standard", 10)]

    q = UsageQuery(start=T0, end=T0 + 60, filters={"api_key_id": ["apikey_1", "apikey_3"], "model": ["m1"]})
    assert [g.requests for g in store.aggregate(q)] == [2]
    assert store.aggregate(UsageQuery(start=T0, end=T0 + 60, filters={"model": []})) == []
    assert store.aggregate(UsageQuery(start=T0, end=T0 + 60, filters={"model": ["nope"]})) == []
    with pytest.raises(ValueError):
        store.aggregate(UsageQuery(start=T0, end=T0 + 60, group_by=("latency_ms; DROP TABLE x",)))


def test_two_stores_on_one_database_see_each_other(opener: Opener) -> None:
    a, b = opener(), opener()
    a.insert([row(T0)])
    b.insert([row(T0 + 1), row(T0 + 2)])
    for store in (a, b):
        assert store.count() == 3
