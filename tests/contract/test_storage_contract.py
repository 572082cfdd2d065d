"""The storage contract, run against SQLite always and PostgreSQL when
``EPISTULA_TEST_POSTGRES_URL`` is set (each PostgreSQL test gets a private schema).

What matters most here is crash safety: a request is claimed by exactly one worker,
answered exactly once, and a dead worker's claims go back to the queue.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from batches.support import BACKENDS, postgres_schema
from epistula.storage import DirectoryBlobStore, Storage
from epistula.storage.base import BatchRecord, BlobTooLarge, FileRecord, NewRequest
from epistula.storage.migrations import POSTGRES, SQLITE

WS = "wrkspc_a"
OTHER = "wrkspc_b"
T0 = 1_700_000_000.0

Opener = Callable[[], Storage]


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one database (several = several processes sharing it)."""
    opened: list[Storage] = []
    if request.param == "sqlite":
        from epistula.storage.sqlite import SqliteStorage

        def open_sqlite() -> Storage:
            opened.append(SqliteStorage(tmp_path / "storage.db"))
            return opened[-1]

        yield open_sqlite
    else:
        from epistula.storage.postgres import PostgresStorage

        with postgres_schema() as url:

            def open_pg() -> Storage:
                opened.append(PostgresStorage(url))
                return opened[-1]

            yield open_pg
            for store in opened:
                store.close()
            opened.clear()
    for store in opened:
        store.close()


@pytest.fixture()
def store(opener: Opener) -> Storage:
    return opener()


def make_batch(store: Storage, batch_id: str, n: int = 3, *, ws: str = WS, created: float = T0) -> BatchRecord:
    record = BatchRecord(
        id=batch_id,
        workspace_id=ws,
        api_version="2023-06-01",
        processing_status="in_progress",
        request_count=n,
        created_at=created,
        expires_at=created + 86400,
    )
    requests = [NewRequest(custom_id=f"r{i}", params=json.dumps({"i": i})) for i in range(n)]
    store.create_batch(record, requests)
    return record


def finish_all(store: Storage, worker: str, status: str = "succeeded") -> int:
    done = 0
    while claimed := store.claim(worker, 10, T0):
        for c in claimed:
            assert store.complete(worker, c.batch_id, c.index, status, json.dumps({"type": status}), T0 + 1)  # type: ignore[arg-type]
            done += 1
    return done


# ---------------------------------------------------------------- migrations


def test_migrations_are_recorded_once(opener: Opener) -> None:
    first = opener()
    expected = [m.version for m in (SQLITE if first.backend == "sqlite" else POSTGRES)]
    assert first.applied_migrations() == expected
    make_batch(first, "msgbatch_keep")
    second = opener()  # a restart: nothing re-applied, data intact
    assert second.applied_migrations() == expected
    assert second.get_batch(WS, "msgbatch_keep") is not None


# ---------------------------------------------------------------- batches: API side


def test_create_get_and_workspace_isolation(store: Storage) -> None:
    make_batch(store, "msgbatch_1", 4)
    got = store.get_batch(WS, "msgbatch_1")
    assert got is not None
    assert got.processing_status == "in_progress"
    assert got.request_count == 4
    assert got.counts.processing == 4 and got.counts.succeeded == 0
    assert got.expires_at == T0 + 86400
    assert store.get_batch(OTHER, "msgbatch_1") is None
    assert store.get_batch(WS, "msgbatch_nope") is None


def test_list_is_newest_first_with_both_cursors(store: Storage) -> None:
    for i in range(5):
        make_batch(store, f"msgbatch_{i}", 1, created=T0 + i)
    make_batch(store, "msgbatch_other", 1, ws=OTHER)
    page = store.list_batches(WS, limit=2)
    assert [b.id for b in page.items] == ["msgbatch_4", "msgbatch_3"] and page.has_more
    page = store.list_batches(WS, limit=2, after_id="msgbatch_3")
    assert [b.id for b in page.items] == ["msgbatch_2", "msgbatch_1"] and page.has_more
    page = store.list_batches(WS, limit=2, after_id="msgbatch_1")
    assert [b.id for b in page.items] == ["msgbatch_0"] and not page.has_more
    page = store.list_batches(WS, limit=2, before_id="msgbatch_1")
    assert [b.id for b in page.items] == ["msgbatch_3", "msgbatch_2"] and page.has_more
    page = store.list_batches(WS, limit=5, before_id="msgbatch_2")
    assert [b.id for b in page.items] == ["msgbatch_4", "msgbatch_3"] and not page.has_more
    assert store.list_batches(WS, limit=5, after_id="msgbatch_other").items == []
    assert [b.id for b in store.list_batches(OTHER, limit=20).items] == ["msgbatch_other"]


def test_completion_ends_the_batch_and_freezes_counts(store: Storage) -> None:
    make_batch(store, "msgbatch_c", 3)
    store.register_worker("w1")
    claimed = store.claim("w1", 10, T0)
    assert [c.custom_id for c in claimed] == ["r0", "r1", "r2"]
    assert claimed[0].workspace_id == WS and claimed[0].api_version == "2023-06-01"
    assert json.loads(claimed[1].params) == {"i": 1}
    assert store.progress("msgbatch_c").done == 0
    assert store.complete("w1", "msgbatch_c", 0, "succeeded", '{"type":"succeeded"}', T0 + 1)
    assert store.complete("w1", "msgbatch_c", 1, "errored", '{"type":"errored"}', T0 + 2)
    assert store.progress("msgbatch_c").done == 2
    mid = store.get_batch(WS, "msgbatch_c")
    assert mid is not None and mid.processing_status == "in_progress" and mid.counts.processing == 3
    assert store.complete("w1", "msgbatch_c", 2, "succeeded", '{"type":"succeeded"}', T0 + 3)
    done = store.get_batch(WS, "msgbatch_c")
    assert done is not None and done.processing_status == "ended" and done.ended_at == T0 + 3
    assert (done.counts.processing, done.counts.succeeded, done.counts.errored) == (0, 2, 1)
    results = store.results("msgbatch_c")
    assert [(r.custom_id, r.status) for r in results] == [("r0", "succeeded"), ("r1", "errored"), ("r2", "succeeded")]


def test_complete_is_exactly_once_and_owner_only(store: Storage) -> None:
    make_batch(store, "msgbatch_x", 1)
    (c,) = store.claim("w1", 5, T0)
    assert not store.complete("w2", c.batch_id, c.index, "succeeded", "{}", T0)
    assert store.complete("w1", c.batch_id, c.index, "succeeded", '{"n":1}', T0)
    assert not store.complete("w1", c.batch_id, c.index, "succeeded", '{"n":2}', T0)
    assert store.results("msgbatch_x")[0].result == '{"n":1}'


def test_claims_are_disjoint_across_concurrent_workers(opener: Opener) -> None:
    stores = [opener() for _ in range(3)]
    make_batch(stores[0], "msgbatch_big", 60)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(store: Storage, worker: str) -> None:
        while claimed := store.claim(worker, 4, T0):
            with lock:
                seen.extend((c.batch_id, c.index) for c in claimed)
            for c in claimed:
                assert store.complete(worker, c.batch_id, c.index, "succeeded", "{}", T0)

    # Futures, not bare threads: an assertion failing in a worker re-raises here (.result()).
    with ThreadPoolExecutor(len(stores)) as pool:
        for future in [pool.submit(work, s, f"w{i}") for i, s in enumerate(stores)]:
            future.result(timeout=60)
    assert sorted(seen) == [("msgbatch_big", i) for i in range(60)]
    batch = stores[0].get_batch(WS, "msgbatch_big")
    assert batch is not None and batch.processing_status == "ended" and batch.counts.succeeded == 60


def test_claim_order_is_oldest_batch_first(store: Storage) -> None:
    make_batch(store, "msgbatch_old", 2)
    make_batch(store, "msgbatch_new", 2)
    claimed = store.claim("w", 3, T0)
    assert [(c.batch_id, c.index) for c in claimed] == [("msgbatch_old", 0), ("msgbatch_old", 1), ("msgbatch_new", 0)]


def test_cancel_marks_pending_canceled_and_running_may_finish(store: Storage) -> None:
    make_batch(store, "msgbatch_k", 4)
    (c,) = store.claim("w", 1, T0)
    canceled = store.cancel_batch(WS, "msgbatch_k", T0 + 5)
    assert canceled is not None
    assert canceled.processing_status == "canceling" and canceled.cancel_initiated_at == T0 + 5
    assert store.claim("w", 10, T0) == []
    assert store.cancel_batch(OTHER, "msgbatch_k", T0) is None
    assert store.complete("w", c.batch_id, c.index, "succeeded", "{}", T0 + 6)
    ended = store.get_batch(WS, "msgbatch_k")
    assert ended is not None and ended.processing_status == "ended"
    assert (ended.counts.succeeded, ended.counts.canceled) == (1, 3)
    assert [r.result for r in store.results("msgbatch_k")][1:] == ['{"type":"canceled"}'] * 3


def test_cancel_with_nothing_running_ends_at_once(store: Storage) -> None:
    make_batch(store, "msgbatch_k2", 2)
    batch = store.cancel_batch(WS, "msgbatch_k2", T0)
    assert batch is not None and batch.processing_status == "ended" and batch.counts.canceled == 2
    again = store.cancel_batch(WS, "msgbatch_k2", T0 + 9)
    assert again is not None and again.cancel_initiated_at == T0


def test_delete_only_when_ended(store: Storage) -> None:
    make_batch(store, "msgbatch_d", 1)
    assert store.delete_batch(WS, "msgbatch_d") == "not_ended"
    assert store.delete_batch(OTHER, "msgbatch_d") == "not_found"
    finish_all(store, "w")
    assert store.delete_batch(WS, "msgbatch_d") == "deleted"
    assert store.get_batch(WS, "msgbatch_d") is None
    assert store.results("msgbatch_d") == []


def test_results_page_in_index_order(store: Storage) -> None:
    make_batch(store, "msgbatch_p", 7)
    finish_all(store, "w")
    got: list[int] = []
    after = -1
    while chunk := store.results("msgbatch_p", after_index=after, limit=3):
        got += [r.index for r in chunk]
        after = chunk[-1].index
    assert got == list(range(7))


# ---------------------------------------------------------------- batches: worker lifecycle


def test_release_returns_a_request_to_the_queue(store: Storage) -> None:
    make_batch(store, "msgbatch_r", 1)
    (c,) = store.claim("w", 1, T0)
    assert store.claim("w", 1, T0) == []
    assert store.release("w", c.batch_id, c.index)
    assert [x.index for x in store.claim("w", 1, T0)] == [0]


def test_orphans_of_a_dead_worker_are_recovered_but_live_ones_are_not(opener: Opener) -> None:
    survivor, alive, doomed = opener(), opener(), opener()
    make_batch(survivor, "msgbatch_o", 3)
    survivor.register_worker("survivor")
    alive.register_worker("alive")
    doomed.register_worker("doomed")
    assert len(alive.claim("alive", 1, T0)) == 1
    assert len(doomed.claim("doomed", 2, T0)) == 2
    assert survivor.recover_orphans("survivor") == 0  # both owners still hold their locks
    doomed.close()  # the process dies: its lock goes with it, its rows stay "running"
    # (PostgreSQL drops a closed session's locks a moment after the client hangs up)
    deadline = time.monotonic() + 5
    while (recovered := survivor.recover_orphans("survivor")) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert recovered == 2
    assert survivor.recover_orphans("survivor") == 0
    reclaimed = survivor.claim("survivor", 5, T0)
    assert sorted(c.index for c in reclaimed) == [1, 2]


def test_unregister_releases_running_requests(store: Storage) -> None:
    make_batch(store, "msgbatch_u", 2)
    store.register_worker("w")
    assert len(store.claim("w", 2, T0)) == 2
    store.unregister_worker("w")
    assert len(store.claim("w2", 5, T0)) == 2


def test_expiry_marks_open_requests_expired(store: Storage) -> None:
    make_batch(store, "msgbatch_e", 3)
    (c,) = store.claim("w", 1, T0)
    assert store.expire_batches(T0 + 100) == 0
    assert store.expire_batches(T0 + 86400) == 1
    batch = store.get_batch(WS, "msgbatch_e")
    assert batch is not None and batch.processing_status == "ended" and batch.counts.expired == 3
    assert not store.complete("w", c.batch_id, c.index, "succeeded", "{}", T0)  # too late


def test_purge_archives_old_results(store: Storage) -> None:
    make_batch(store, "msgbatch_old", 2, created=T0)
    make_batch(store, "msgbatch_new", 2, created=T0 + 1000)
    finish_all(store, "w")
    assert store.purge_batches(created_before=T0 + 500, now=T0 + 2000) == 1
    old = store.get_batch(WS, "msgbatch_old")
    assert old is not None and old.archived_at == T0 + 2000 and old.counts.succeeded == 2
    assert store.results("msgbatch_old") == []
    assert len(store.results("msgbatch_new")) == 2
    assert store.purge_batches(created_before=T0 + 500, now=T0 + 3000) == 0


# ---------------------------------------------------------------- files


def file_record(file_id: str, *, ws: str = WS, created: float = T0, expires: float | None = None) -> FileRecord:
    return FileRecord(
        id=file_id,
        workspace_id=ws,
        filename=f"{file_id}.txt",
        mime_type="text/plain",
        size_bytes=5,
        created_at=created,
        downloadable=False,
        expires_at=expires,
    )


def test_file_metadata_roundtrip_list_and_delete(store: Storage) -> None:
    for i in range(4):
        store.add_file(file_record(f"file_{i}", created=T0 + i))
    store.add_file(file_record("file_other", ws=OTHER))
    store.add_file(file_record("file_gone", expires=T0 + 10))
    assert store.get_file(WS, "file_1") == file_record("file_1", created=T0 + 1)
    assert store.get_file(OTHER, "file_1") is None
    page = store.list_files(WS, limit=2, now=T0 + 100)
    assert [f.id for f in page.items] == ["file_3", "file_2"] and page.has_more
    page = store.list_files(WS, limit=2, now=T0 + 100, after_id="file_2")
    assert [f.id for f in page.items] == ["file_1", "file_0"] and not page.has_more
    page = store.list_files(WS, limit=20, now=T0 + 100, ids=["file_0", "file_2", "file_other"])
    assert [f.id for f in page.items] == ["file_2", "file_0"]
    assert "file_gone" in [f.id for f in store.list_files(WS, limit=20, now=T0).items]
    assert [f.id for f in store.expired_files(T0 + 100)] == ["file_gone"]
    assert not store.delete_file(OTHER, "file_1")
    assert store.delete_file(WS, "file_1")
    assert store.get_file(WS, "file_1") is None
    assert not store.delete_file(WS, "file_1")


# ---------------------------------------------------------------- blobs


def test_blob_store_is_atomic_and_bounded(tmp_path: Path) -> None:
    blobs = DirectoryBlobStore(tmp_path / "blobs")
    assert blobs.write("file_01abc", io.BytesIO(b"hello")) == 5
    with blobs.open("file_01abc") as f:
        assert f.read() == b"hello"
    with pytest.raises(BlobTooLarge):
        blobs.write("file_01big", io.BytesIO(b"x" * 100), limit=10)
    assert not blobs.exists("file_01big")
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == ["file_01abc"]
    with pytest.raises(ValueError):
        blobs.write("../escape", io.BytesIO(b""))
    blobs.delete("file_01abc")
    blobs.delete("file_01abc")
    assert not blobs.exists("file_01abc")
