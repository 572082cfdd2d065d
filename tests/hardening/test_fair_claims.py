"""Issue 11 #7: batch claiming is fair across workspaces, and a workspace's unfinished
batches stay within its quota. On SQLite always and PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batches.support import BACKENDS, T0, make_batch, postgres_schema
from epistula.storage.batch_claims import share
from epistula.storage.batches import BatchQuota, BatchStore
from epistula.storage.common import QuotaExceeded
from epistula.storage.database import open_database


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BatchStore]:
    if request.param == "sqlite":
        with open_database(None, tmp_path) as database:
            yield BatchStore(database)
    else:
        with postgres_schema() as url, open_database(url, tmp_path) as database:
            batches = BatchStore(database)
            yield batches
            batches.close()


def _batch(store: BatchStore, batch_id: str, workspace: str, n: int, quota: BatchQuota | None = None) -> None:
    """A batch made with the workspace's key ``apikey_<workspace>``."""
    make_batch(store, batch_id, n, workspace=workspace, key_id=f"apikey_{workspace}", quota=quota)


def test_a_big_batch_does_not_starve_a_small_one(store: BatchStore) -> None:
    _batch(store, "msgbatch_big", "wrkspc_big", 200)
    _batch(store, "msgbatch_small", "wrkspc_small", 3)
    first = store.claim("w1", 4, T0)
    assert sorted(c.workspace_id for c in first) == ["wrkspc_big"] * 2 + ["wrkspc_small"] * 2
    assert {c.key_id for c in first} == {"apikey_wrkspc_big", "apikey_wrkspc_small"}
    # The next claim (another worker) sees 2 running on each side: the small batch's last
    # request comes first, the rest of the claim goes to the big one.
    second = store.claim("w2", 4, T0)
    assert sorted(c.workspace_id for c in second) == ["wrkspc_big"] * 3 + ["wrkspc_small"]
    assert [c.index for c in first + second if c.workspace_id == "wrkspc_small"] == [0, 1, 2]
    big = [c.index for c in first + second if c.workspace_id == "wrkspc_big"]
    assert big == list(range(5))  # in order within a workspace, nothing twice


def test_the_least_busy_workspace_goes_first_and_skipped_ones_get_nothing(store: BatchStore) -> None:
    _batch(store, "msgbatch_a", "wrkspc_a", 10)
    _batch(store, "msgbatch_b", "wrkspc_b", 10)
    assert {c.workspace_id for c in store.claim("w", 3, T0, skip_workspaces={"wrkspc_a"})} == {"wrkspc_b"}
    assert {c.workspace_id for c in store.claim("w", 3, T0)} == {"wrkspc_a"}  # b has 3 running, a none


def test_share_gives_slots_to_the_least_loaded_then_the_oldest() -> None:
    assert share(5, {"a": 3, "b": 0, "c": 1}, {"a": 0, "b": 1, "c": 2}) == {"b": 3, "c": 2}
    assert share(2, {"a": 0, "b": 0}, {"a": 1, "b": 0}) == {"b": 1, "a": 1}
    assert share(3, {}, {}) == {}


def test_the_batch_queue_quota_counts_open_requests_and_bytes(store: BatchStore) -> None:
    quota = BatchQuota(requests=5, params_bytes=10_000)
    _batch(store, "msgbatch_1", "wrkspc_q", 3, quota)
    with pytest.raises(QuotaExceeded) as info:
        _batch(store, "msgbatch_2", "wrkspc_q", 3, quota)
    assert (info.value.quota, info.value.used, info.value.adding) == ("batch_requests", 3, 3)
    _batch(store, "msgbatch_3", "wrkspc_other", 3, quota)  # per workspace
    with pytest.raises(QuotaExceeded) as info:
        _batch(store, "msgbatch_4", "wrkspc_q", 1, BatchQuota(params_bytes=30))
    assert info.value.quota == "batch_bytes"
    assert store.get_batch("wrkspc_q", "msgbatch_2") is None and store.get_batch("wrkspc_q", "msgbatch_4") is None
    for claimed in store.claim("w", 10, T0):  # ended batches no longer count
        if claimed.workspace_id == "wrkspc_q":
            store.complete("w", claimed.batch_id, claimed.index, "succeeded", "{}", T0)
    _batch(store, "msgbatch_5", "wrkspc_q", 5, quota)
    assert store.queued("wrkspc_q").requests == 5


def test_a_live_worker_gets_back_claims_whose_results_it_could_not_write(store: BatchStore) -> None:
    _batch(store, "msgbatch_lost", "wrkspc_l", 3)
    claimed = store.claim("w", 3, T0)
    still_running = {(claimed[0].batch_id, claimed[0].index)}
    assert store.recover_own("w", still_running, claimed_before=T0) == 0  # too recent: maybe being made
    assert store.recover_own("other", set(), claimed_before=T0 + 60) == 0  # only its own
    assert store.recover_own("w", still_running, claimed_before=T0 + 60) == 2
    assert sorted(c.index for c in store.claim("w2", 5, T0 + 60)) == [1, 2]
    assert not store.complete("w", "msgbatch_lost", 1, "succeeded", "{}", T0 + 61)  # re-owned: dropped
