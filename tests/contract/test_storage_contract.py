"""The storage contract of the batch and file stores, run against SQLite always and
PostgreSQL when ``EPISTULA_TEST_POSTGRES_URL`` is set (fixtures in ``conftest.py``).

What matters most here is crash safety: a request is claimed by exactly one worker,
answered exactly once, and a dead worker's claims go back to the queue.
"""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from batches.support import T0, make_batch
from contract.contract_stores import Opener
from epistula.storage.batches import BatchStore
from epistula.storage.blobs import BlobTooLarge, DirectoryBlobStore
from epistula.storage.files import FileRecord, FileStore
from epistula.storage.migrate import current_revision, head_revision

WS = "wrkspc_a"
OTHER = "wrkspc_b"


def finish_all(store: BatchStore, worker: str, status: str = "succeeded") -> int:
    done = 0
    while claimed := store.claim(worker, 10, T0):
        for c in claimed:
            assert store.complete(worker, c.batch_id, c.index, status, json.dumps({"type": status}), T0 + 1)  # type: ignore[arg-type]
            done += 1
    return done


# ---------------------------------------------------------------- migrations


def test_migrations_are_applied_once(opener: Opener) -> None:
    first = opener()
    with first.database.read() as conn:
        assert current_revision(conn) == head_revision()
    make_batch(first.batches, "msgbatch_keep")
    second = opener()  # a restart: nothing re-applied, data intact
    with second.database.read() as conn:
        assert current_revision(conn) == head_revision()
    assert second.batches.get_batch(WS, "msgbatch_keep") is not None


# ---------------------------------------------------------------- batches: API side


def test_create_get_and_workspace_isolation(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_1", 4)
    got = batch_store.get_batch(WS, "msgbatch_1")
    assert got is not None
    assert got.processing_status == "in_progress"
    assert got.request_count == 4
    assert got.counts.processing == 4 and got.counts.succeeded == 0
    assert got.expires_at == T0 + 86400
    assert batch_store.get_batch(OTHER, "msgbatch_1") is None
    assert batch_store.get_batch(WS, "msgbatch_nope") is None


def test_list_is_newest_first_with_both_cursors(batch_store: BatchStore) -> None:
    for i in range(5):
        make_batch(batch_store, f"msgbatch_{i}", 1, created=T0 + i)
    make_batch(batch_store, "msgbatch_other", 1, workspace=OTHER)
    page = batch_store.list_batches(WS, limit=2)
    assert [b.id for b in page.items] == ["msgbatch_4", "msgbatch_3"] and page.has_more
    page = batch_store.list_batches(WS, limit=2, after_id="msgbatch_3")
    assert [b.id for b in page.items] == ["msgbatch_2", "msgbatch_1"] and page.has_more
    page = batch_store.list_batches(WS, limit=2, after_id="msgbatch_1")
    assert [b.id for b in page.items] == ["msgbatch_0"] and not page.has_more
    page = batch_store.list_batches(WS, limit=2, before_id="msgbatch_1")
    assert [b.id for b in page.items] == ["msgbatch_3", "msgbatch_2"] and page.has_more
    page = batch_store.list_batches(WS, limit=5, before_id="msgbatch_2")
    assert [b.id for b in page.items] == ["msgbatch_4", "msgbatch_3"] and not page.has_more
    assert batch_store.list_batches(WS, limit=5, after_id="msgbatch_other").items == []
    assert [b.id for b in batch_store.list_batches(OTHER, limit=20).items] == ["msgbatch_other"]


def test_completion_ends_the_batch_and_freezes_counts(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_c", 3)
    batch_store.register_worker("w1")
    claimed = batch_store.claim("w1", 10, T0)
    assert [c.custom_id for c in claimed] == ["r0", "r1", "r2"]
    assert claimed[0].workspace_id == WS and claimed[0].api_version == "2023-06-01"
    assert json.loads(claimed[1].params) == {"i": 1}
    assert batch_store.progress("msgbatch_c").done == 0
    assert batch_store.complete("w1", "msgbatch_c", 0, "succeeded", '{"type":"succeeded"}', T0 + 1)
    assert batch_store.complete("w1", "msgbatch_c", 1, "errored", '{"type":"errored"}', T0 + 2)
    assert batch_store.progress("msgbatch_c").done == 2
    mid = batch_store.get_batch(WS, "msgbatch_c")
    assert mid is not None and mid.processing_status == "in_progress" and mid.counts.processing == 3
    assert batch_store.complete("w1", "msgbatch_c", 2, "succeeded", '{"type":"succeeded"}', T0 + 3)
    done = batch_store.get_batch(WS, "msgbatch_c")
    assert done is not None and done.processing_status == "ended" and done.ended_at == T0 + 3
    assert (done.counts.processing, done.counts.succeeded, done.counts.errored) == (0, 2, 1)
    results = batch_store.results("msgbatch_c")
    assert [(r.custom_id, r.status) for r in results] == [("r0", "succeeded"), ("r1", "errored"), ("r2", "succeeded")]


def test_complete_is_exactly_once_and_owner_only(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_x", 1)
    (c,) = batch_store.claim("w1", 5, T0)
    assert not batch_store.complete("w2", c.batch_id, c.index, "succeeded", "{}", T0)
    assert batch_store.complete("w1", c.batch_id, c.index, "succeeded", '{"n":1}', T0)
    assert not batch_store.complete("w1", c.batch_id, c.index, "succeeded", '{"n":2}', T0)
    assert batch_store.results("msgbatch_x")[0].result == '{"n":1}'


def test_claims_are_disjoint_across_concurrent_workers(opener: Opener) -> None:
    stores = [opener().batches for _ in range(3)]
    make_batch(stores[0], "msgbatch_big", 60)

    def work(store: BatchStore, worker: str) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        while claimed := store.claim(worker, 4, T0):
            seen.extend((c.batch_id, c.index) for c in claimed)
            for c in claimed:
                assert store.complete(worker, c.batch_id, c.index, "succeeded", "{}", T0)
        return seen

    # Through futures: an assertion failing in a worker thread fails the test (``result``
    # raises it here) instead of only printing a warning.
    with ThreadPoolExecutor(max_workers=len(stores)) as pool:
        futures = [pool.submit(work, s, f"w{i}") for i, s in enumerate(stores)]
        seen = [item for future in futures for item in future.result(timeout=60)]
    assert sorted(seen) == [("msgbatch_big", i) for i in range(60)]
    batch = stores[0].get_batch(WS, "msgbatch_big")
    assert batch is not None and batch.processing_status == "ended" and batch.counts.succeeded == 60


def test_claim_order_is_oldest_batch_first(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_old", 2)
    make_batch(batch_store, "msgbatch_new", 2)
    claimed = batch_store.claim("w", 3, T0)
    assert [(c.batch_id, c.index) for c in claimed] == [("msgbatch_old", 0), ("msgbatch_old", 1), ("msgbatch_new", 0)]


def test_cancel_marks_pending_canceled_and_running_may_finish(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_k", 4)
    (c,) = batch_store.claim("w", 1, T0)
    canceled = batch_store.cancel_batch(WS, "msgbatch_k", T0 + 5)
    assert canceled is not None
    assert canceled.processing_status == "canceling" and canceled.cancel_initiated_at == T0 + 5
    assert batch_store.claim("w", 10, T0) == []
    assert batch_store.cancel_batch(OTHER, "msgbatch_k", T0) is None
    assert batch_store.complete("w", c.batch_id, c.index, "succeeded", "{}", T0 + 6)
    ended = batch_store.get_batch(WS, "msgbatch_k")
    assert ended is not None and ended.processing_status == "ended"
    assert (ended.counts.succeeded, ended.counts.canceled) == (1, 3)
    assert [r.result for r in batch_store.results("msgbatch_k")][1:] == ['{"type":"canceled"}'] * 3


def test_cancel_with_nothing_running_ends_at_once(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_k2", 2)
    batch = batch_store.cancel_batch(WS, "msgbatch_k2", T0)
    assert batch is not None and batch.processing_status == "ended" and batch.counts.canceled == 2
    again = batch_store.cancel_batch(WS, "msgbatch_k2", T0 + 9)
    assert again is not None and again.cancel_initiated_at == T0


def test_delete_only_when_ended(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_d", 1)
    assert batch_store.delete_batch(WS, "msgbatch_d") == "not_ended"
    assert batch_store.delete_batch(OTHER, "msgbatch_d") == "not_found"
    finish_all(batch_store, "w")
    assert batch_store.delete_batch(WS, "msgbatch_d") == "deleted"
    assert batch_store.get_batch(WS, "msgbatch_d") is None
    assert batch_store.results("msgbatch_d") == []


def test_results_page_in_index_order(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_p", 7)
    finish_all(batch_store, "w")
    got: list[int] = []
    after = -1
    while chunk := batch_store.results("msgbatch_p", after_index=after, limit=3):
        got += [r.index for r in chunk]
        after = chunk[-1].index
    assert got == list(range(7))


# ---------------------------------------------------------------- batches: worker lifecycle


def test_release_returns_a_request_to_the_queue(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_r", 1)
    (c,) = batch_store.claim("w", 1, T0)
    assert batch_store.claim("w", 1, T0) == []
    assert batch_store.release("w", c.batch_id, c.index)
    assert [x.index for x in batch_store.claim("w", 1, T0)] == [0]


def test_orphans_of_a_dead_worker_are_recovered_but_live_ones_are_not(opener: Opener) -> None:
    survivor, alive, doomed_process = opener().batches, opener().batches, opener()
    doomed = doomed_process.batches
    make_batch(survivor, "msgbatch_o", 3)
    survivor.register_worker("survivor")
    alive.register_worker("alive")
    doomed.register_worker("doomed")
    assert len(alive.claim("alive", 1, T0)) == 1
    assert len(doomed.claim("doomed", 2, T0)) == 2
    assert survivor.recover_orphans("survivor") == 0  # both owners still hold their locks
    doomed_process.close()  # the process dies: its lock goes with it, its rows stay "running"
    # (PostgreSQL drops a closed session's locks a moment after the client hangs up)
    deadline = time.monotonic() + 5
    while (recovered := survivor.recover_orphans("survivor")) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert recovered == 2
    assert survivor.recover_orphans("survivor") == 0
    reclaimed = survivor.claim("survivor", 5, T0)
    assert sorted(c.index for c in reclaimed) == [1, 2]


def test_unregister_releases_running_requests(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_u", 2)
    batch_store.register_worker("w")
    assert len(batch_store.claim("w", 2, T0)) == 2
    batch_store.unregister_worker("w")
    assert len(batch_store.claim("w2", 5, T0)) == 2


def test_expiry_marks_open_requests_expired(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_e", 3)
    (c,) = batch_store.claim("w", 1, T0)
    assert batch_store.expire_batches(T0 + 100) == 0
    assert batch_store.expire_batches(T0 + 86400) == 1
    batch = batch_store.get_batch(WS, "msgbatch_e")
    assert batch is not None and batch.processing_status == "ended" and batch.counts.expired == 3
    assert not batch_store.complete("w", c.batch_id, c.index, "succeeded", "{}", T0)  # too late


def test_purge_archives_old_results(batch_store: BatchStore) -> None:
    make_batch(batch_store, "msgbatch_old", 2, created=T0)
    make_batch(batch_store, "msgbatch_new", 2, created=T0 + 1000)
    finish_all(batch_store, "w")
    assert batch_store.purge_batches(created_before=T0 + 500, now=T0 + 2000) == 1
    old = batch_store.get_batch(WS, "msgbatch_old")
    assert old is not None and old.archived_at == T0 + 2000 and old.counts.succeeded == 2
    assert batch_store.results("msgbatch_old") == []
    assert len(batch_store.results("msgbatch_new")) == 2
    assert batch_store.purge_batches(created_before=T0 + 500, now=T0 + 3000) == 0


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


def test_file_metadata_roundtrip_list_and_delete(file_store: FileStore) -> None:
    for i in range(4):
        file_store.add_file(file_record(f"file_{i}", created=T0 + i))
    file_store.add_file(file_record("file_other", ws=OTHER))
    file_store.add_file(file_record("file_gone", expires=T0 + 10))
    assert file_store.get_file(WS, "file_1") == file_record("file_1", created=T0 + 1)
    assert file_store.get_file(OTHER, "file_1") is None
    page = file_store.list_files(WS, limit=2, now=T0 + 100)
    assert [f.id for f in page.items] == ["file_3", "file_2"] and page.has_more
    page = file_store.list_files(WS, limit=2, now=T0 + 100, after_id="file_2")
    assert [f.id for f in page.items] == ["file_1", "file_0"] and not page.has_more
    page = file_store.list_files(WS, limit=20, now=T0 + 100, ids=["file_0", "file_2", "file_other"])
    assert [f.id for f in page.items] == ["file_2", "file_0"]
    assert "file_gone" in [f.id for f in file_store.list_files(WS, limit=20, now=T0).items]
    assert [f.id for f in file_store.expired_files(T0 + 100)] == ["file_gone"]
    assert not file_store.delete_file(OTHER, "file_1")
    assert file_store.delete_file(WS, "file_1")
    assert file_store.get_file(WS, "file_1") is None
    assert not file_store.delete_file(WS, "file_1")


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
