"""Message batches and their requests, claimed and answered by batch workers.

Request states: ``pending`` -> ``running`` (carrying the claiming worker's id; only
that worker can finish it) -> a final state. Crash safety: every method is one
transaction; ``complete`` writes the result only while the worker still owns the
request, so a request is answered exactly once; a dead worker's ``running`` requests go
back to ``pending`` (:mod:`.liveness` tells who is dead).

Claiming is fair between workspaces (:mod:`.batch_claims`): on PostgreSQL ``SELECT ...
FOR UPDATE SKIP LOCKED`` (concurrent workers never wait on each other nor get the same
row); on SQLite the write transaction's ``BEGIN IMMEDIATE`` serialises claims (``FOR
UPDATE`` compiles to nothing there).

Lock order, to stay deadlock-free on PostgreSQL: a transaction that touches a batch row
and its request rows locks the batch row first. ``claim`` locks only request rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from .batch_claims import fair_pending
from .common import ListPage, QuotaExceeded
from .database import Database
from .liveness import worker_liveness
from .queries import AnyRow, from_row, keyset_page
from .schema import batch_requests, batches

BatchStatus = Literal["in_progress", "canceling", "ended"]
RequestStatus = Literal["pending", "running", "succeeded", "errored", "canceled", "expired"]
FinalStatus = Literal["succeeded", "errored", "canceled", "expired"]
DeleteOutcome = Literal["deleted", "not_found", "not_ended"]

FINAL_STATUSES: tuple[FinalStatus, ...] = ("succeeded", "errored", "canceled", "expired")
CANCELED_RESULT = '{"type":"canceled"}'
EXPIRED_RESULT = '{"type":"expired"}'
INSERT_CHUNK = 2_000
"""Rows per statement of a batch's requests (one transaction): the rows' parameters are
built and freed a chunk at a time, and freeing 100,000 of them at once held the GIL
(stopping the event loop of the thread's process) for about 100 ms."""


@dataclass(frozen=True, slots=True)
class RequestCounts:
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: str
    workspace_id: str
    api_version: str
    """The ``anthropic-version`` of the create call; requests are prepared under it."""
    processing_status: BatchStatus
    request_count: int
    created_at: float
    expires_at: float
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    archived_at: float | None = None
    final_counts: RequestCounts | None = None
    """Tallies frozen when the batch ended (they survive the purge of the requests)."""
    created_by_key_id: str | None = None
    """The API key that created it (its batches stop when it stops being active)."""
    params_bytes: int = 0
    """The bytes of its requests' params (what the workspace's batch quota counts)."""

    @property
    def counts(self) -> RequestCounts:
        """What the API reports: everything is ``processing`` until the whole batch ends."""
        if self.final_counts is not None:
            return self.final_counts
        return RequestCounts(processing=self.request_count)


@dataclass(frozen=True, slots=True)
class NewRequest:
    custom_id: str
    params: str
    """The request's ``params`` as JSON text (validated at create time)."""


@dataclass(frozen=True, slots=True)
class BatchQuota:
    """What one workspace's in-progress batches may hold (None: no limit)."""

    requests: int | None = None
    """Open requests."""
    params_bytes: int | None = None
    """Bytes of open batches' params."""


@dataclass(frozen=True, slots=True)
class Queued:
    """What a workspace's in-progress batches hold."""

    requests: int
    params_bytes: int


@dataclass(frozen=True, slots=True)
class ClaimedRequest:
    """A request a worker now owns (status ``running``) until it completes or releases it."""

    batch_id: str
    index: int
    custom_id: str
    params: str
    workspace_id: str
    api_version: str
    key_id: str | None = None
    """The key that created the batch (None: created before keys were recorded)."""


@dataclass(frozen=True, slots=True)
class RequestResult:
    index: int
    custom_id: str
    status: RequestStatus
    result: str | None
    """The ``result`` object as JSON text; None while the request is open."""


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int


def _batch(row: AnyRow) -> BatchRecord:
    final = None
    if row.processing_status == "ended":
        final = RequestCounts(0, row.n_succeeded, row.n_errored, row.n_canceled, row.n_expired)
    return from_row(BatchRecord, row, final_counts=final)


b = batches.c
r = batch_requests.c
_OPEN = ("pending", "running")
_BACK_TO_PENDING = {"status": "pending", "worker_id": None, "claimed_at": None}


def _lock_batch(conn: Connection, batch_id: str, workspace_id: str | None = None) -> AnyRow | None:
    """The batch row, locked for the transaction (PostgreSQL)."""
    query = select(batches).where(b.id == batch_id)
    if workspace_id is not None:
        query = query.where(b.workspace_id == workspace_id)
    return conn.execute(query.with_for_update()).first()


def _closed(conn: Connection, batch_id: str, n: int, now: float) -> None:
    """``n`` requests of the batch reached a final state: keep ``open_count`` exact (a
    counter, because counting the open rows on every completion is quadratic in the batch
    size), and end the batch, freezing its tallies, when it reaches zero. Callers hold the
    batch row lock, so two last completions cannot both miss it."""
    if n <= 0:
        return
    conn.execute(update(batches).where(b.id == batch_id).values(open_count=b.open_count - n))
    if conn.scalar(select(b.open_count).where(b.id == batch_id)):
        return
    counted = conn.execute(select(r.status, func.count()).where(r.batch_id == batch_id).group_by(r.status))
    tally = {status: n for status, n in counted}
    conn.execute(
        update(batches)
        .where(b.id == batch_id, b.processing_status != "ended")
        .values(
            processing_status="ended",
            ended_at=now,
            **{f"n_{status}": tally.get(status, 0) for status in FINAL_STATUSES},
        )
    )


def _queued(conn: Connection, workspace_id: str) -> Queued:
    row = conn.execute(
        select(func.coalesce(func.sum(b.open_count), 0), func.coalesce(func.sum(b.params_bytes), 0)).where(
            b.workspace_id == workspace_id, b.processing_status == "in_progress"
        )
    ).one()
    return Queued(requests=int(row[0]), params_bytes=int(row[1]))


def _check_quota(conn: Connection, batch: BatchRecord, n: int, quota: BatchQuota) -> None:
    queued = _queued(conn, batch.workspace_id)
    if quota.requests is not None and queued.requests + n > quota.requests:
        raise QuotaExceeded("batch_requests", quota.requests, queued.requests, n)
    if quota.params_bytes is not None and queued.params_bytes + batch.params_bytes > quota.params_bytes:
        raise QuotaExceeded("batch_bytes", quota.params_bytes, queued.params_bytes, batch.params_bytes)


def _finish(status: FinalStatus, result: str, now: float) -> dict[str, Any]:
    return {"status": status, "result": result, "finished_at": now, "params": None}


class BatchStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._liveness = worker_liveness(database)

    def close(self) -> None:
        """Release this process's worker locks (the database stays open)."""
        self._liveness.close()

    # ------------------------------------------------------------ API side

    def queued(self, workspace_id: str) -> Queued:
        with self._db.read() as conn:
            return _queued(conn, workspace_id)

    def create_batch(self, batch: BatchRecord, requests: Sequence[NewRequest], quota: BatchQuota | None = None) -> None:
        """Raises :class:`QuotaExceeded` (writing nothing) when the workspace's in-progress
        batches would exceed ``quota``."""
        with self._db.write() as conn:
            if quota is not None:
                _check_quota(conn, batch, len(requests), quota)
            seq = conn.execute(
                insert(batches)
                .values(
                    id=batch.id,
                    workspace_id=batch.workspace_id,
                    api_version=batch.api_version,
                    processing_status="in_progress",
                    request_count=len(requests),
                    open_count=len(requests),
                    created_at=batch.created_at,
                    expires_at=batch.expires_at,
                    created_by_key_id=batch.created_by_key_id,
                    params_bytes=batch.params_bytes,
                )
                .returning(b.seq)
            ).scalar_one()
            for start in range(0, len(requests), INSERT_CHUNK):
                conn.execute(
                    insert(batch_requests),
                    [
                        {
                            "batch_id": batch.id,
                            "idx": i,
                            "batch_seq": seq,
                            "custom_id": q.custom_id,
                            "params": q.params,
                            "status": "pending",
                        }
                        for i, q in enumerate(requests[start : start + INSERT_CHUNK], start)
                    ],
                )

    def get_batch(self, workspace_id: str, batch_id: str) -> BatchRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(batches).where(b.id == batch_id, b.workspace_id == workspace_id)).first()
        return _batch(row) if row else None

    def list_batches(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[BatchRecord]:
        """Newest first; ``after_id`` pages towards older batches, ``before_id`` towards newer."""
        where = b.workspace_id == workspace_id
        with self._db.read() as conn:
            return keyset_page(conn, batches, where, _batch, limit=limit, before_id=before_id, after_id=after_id)

    def progress(self, batch_id: str) -> Progress:
        with self._db.read() as conn:
            row = conn.execute(select(b.request_count, b.open_count).where(b.id == batch_id)).first()
        if row is None:
            return Progress(total=0, done=0)
        return Progress(total=row.request_count, done=row.request_count - row.open_count)

    def cancel_batch(self, workspace_id: str, batch_id: str, now: float) -> BatchRecord | None:
        """Mark the batch canceling and every pending request canceled (running ones may
        still finish); the batch ends at once when nothing is running."""
        with self._db.write() as conn:
            row = _lock_batch(conn, batch_id, workspace_id)
            if row is None:
                return None
            if row.processing_status == "in_progress":
                conn.execute(
                    update(batches)
                    .where(b.id == batch_id)
                    .values(processing_status="canceling", cancel_initiated_at=now)
                )
                canceled = conn.execute(
                    update(batch_requests)
                    .where(r.batch_id == batch_id, r.status == "pending")
                    .values(_finish("canceled", CANCELED_RESULT, now))
                ).rowcount
                _closed(conn, batch_id, canceled, now)
                row = conn.execute(select(batches).where(b.id == batch_id)).one()
        return _batch(row)

    def delete_batch(self, workspace_id: str, batch_id: str) -> DeleteOutcome:
        with self._db.write() as conn:
            row = _lock_batch(conn, batch_id, workspace_id)
            if row is None:
                return "not_found"
            if row.processing_status != "ended":
                return "not_ended"
            conn.execute(delete(batch_requests).where(r.batch_id == batch_id))
            conn.execute(delete(batches).where(b.id == batch_id))
        return "deleted"

    def results(self, batch_id: str, *, after_index: int = -1, limit: int = 500) -> list[RequestResult]:
        """Requests in index order, for streaming results in chunks."""
        query = (
            select(r.idx, r.custom_id, r.status, r.result)
            .where(r.batch_id == batch_id, r.idx > after_index)
            .order_by(r.idx)
            .limit(limit)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [RequestResult(index=x.idx, custom_id=x.custom_id, status=x.status, result=x.result) for x in rows]

    # ------------------------------------------------------------ worker side

    def register_worker(self, worker_id: str) -> None:
        """Announce a live worker (its lock, held for the process's lifetime)."""
        self._liveness.hold(worker_id)

    def unregister_worker(self, worker_id: str) -> None:
        """Graceful stop: the worker's running requests go back to pending."""
        with self._db.write() as conn:
            conn.execute(
                update(batch_requests).where(r.status == "running", r.worker_id == worker_id).values(_BACK_TO_PENDING)
            )
        self._liveness.drop(worker_id)

    def claim(
        self, worker_id: str, limit: int, now: float, *, skip_workspaces: Collection[str] = ()
    ) -> list[ClaimedRequest]:
        """Atomically move up to ``limit`` pending requests to running, shared fairly between
        workspaces (:mod:`.batch_claims`); ``skip_workspaces`` get none (rate-limited)."""
        if limit <= 0:
            return []
        with self._db.write() as conn:
            rows = fair_pending(conn, limit, skip_workspaces)
            if not rows:
                return []
            conn.execute(
                update(batch_requests)
                .where(r.batch_id == bindparam("b_id"), r.idx == bindparam("b_idx"), r.status == "pending")
                .values(status="running", worker_id=worker_id, claimed_at=now),
                [{"b_id": row.batch_id, "b_idx": row.idx} for row, _ in rows],
            )
        return [
            ClaimedRequest(
                batch_id=row.batch_id,
                index=row.idx,
                custom_id=row.custom_id,
                params=row.params,
                workspace_id=batch.workspace_id,
                api_version=batch.api_version,
                key_id=batch.created_by_key_id,
            )
            for row, batch in rows
        ]

    def complete(self, worker_id: str, batch_id: str, index: int, status: FinalStatus, result: str, now: float) -> bool:
        """Write the result and mark the request done in one transaction, only if this
        worker still owns it (False otherwise: it was canceled, expired or re-claimed).
        Ends the batch when this was its last open request."""
        with self._db.write() as conn:
            if _lock_batch(conn, batch_id) is None:
                return False
            done = conn.execute(
                update(batch_requests)
                .where(r.batch_id == batch_id, r.idx == index, r.status == "running", r.worker_id == worker_id)
                .values(_finish(status, result, now))
            ).rowcount
            if done != 1:
                return False
            _closed(conn, batch_id, 1, now)
        return True

    def release(self, worker_id: str, batch_id: str, index: int) -> bool:
        """Give a claimed request back (transient failure such as an overloaded engine)."""
        with self._db.write() as conn:
            released = conn.execute(
                update(batch_requests)
                .where(r.batch_id == batch_id, r.idx == index, r.status == "running", r.worker_id == worker_id)
                .values(_BACK_TO_PENDING)
            ).rowcount
        return released == 1

    def recover_own(self, worker_id: str, running: Collection[tuple[str, int]], claimed_before: float) -> int:
        """Reset to pending the requests this live worker holds but no longer runs (``running``
        lists what it runs): a completion it could not record while the database was away.
        Only claims older than ``claimed_before`` count, so a claim being made is safe."""
        with self._db.write() as conn:
            held = conn.execute(
                select(r.batch_id, r.idx).where(
                    r.status == "running", r.worker_id == worker_id, r.claimed_at < claimed_before
                )
            ).all()
            lost = [{"b_id": row.batch_id, "b_idx": row.idx} for row in held if (row.batch_id, row.idx) not in running]
            if lost:
                conn.execute(
                    update(batch_requests)
                    .where(
                        r.batch_id == bindparam("b_id"),
                        r.idx == bindparam("b_idx"),
                        r.status == "running",
                        r.worker_id == worker_id,
                    )
                    .values(_BACK_TO_PENDING),
                    lost,
                )
        return len(lost)

    def recover_orphans(self, worker_id: str) -> int:
        """Reset to pending the running requests of workers that are no longer alive."""
        with self._db.read() as conn:
            owners = conn.scalars(select(r.worker_id).where(r.status == "running").distinct()).all()
        recovered = 0
        for owner in owners:
            if owner == worker_id or owner is None or not self._liveness.is_dead(owner):
                continue
            try:
                with self._db.write() as conn:
                    recovered += conn.execute(
                        update(batch_requests)
                        .where(r.status == "running", r.worker_id == owner)
                        .values(_BACK_TO_PENDING)
                    ).rowcount
            finally:
                self._liveness.drop(owner)
        return recovered

    def expire_batches(self, now: float) -> int:
        """End batches past ``expires_at``: their open requests become ``expired``."""
        with self._db.read() as conn:
            due = conn.scalars(select(b.id).where(b.processing_status != "ended", b.expires_at <= now)).all()
        for batch_id in due:
            with self._db.write() as conn:
                if _lock_batch(conn, batch_id) is None:
                    continue
                expired = conn.execute(
                    update(batch_requests)
                    .where(r.batch_id == batch_id, r.status.in_(_OPEN))
                    .values(_finish("expired", EXPIRED_RESULT, now))
                ).rowcount
                _closed(conn, batch_id, expired, now)
        return len(due)

    def purge_batches(self, created_before: float, now: float) -> int:
        """Delete the results of ended batches created before the cutoff; set ``archived_at``."""
        query = select(b.id).where(
            b.processing_status == "ended", b.archived_at.is_(None), b.created_at < created_before
        )
        with self._db.read() as conn:
            due = conn.scalars(query).all()
        for batch_id in due:
            with self._db.write() as conn:
                _lock_batch(conn, batch_id)
                conn.execute(delete(batch_requests).where(r.batch_id == batch_id))
                conn.execute(update(batches).where(b.id == batch_id).values(archived_at=now))
        return len(due)
