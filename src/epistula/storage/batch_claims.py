"""Fair claiming of batch requests across workspaces.

A claim of ``n`` requests is shared out one request at a time to the workspace with the
fewest requests running (everywhere, in every worker) plus already given in this claim;
ties go to the workspace whose oldest open batch is oldest. Within a workspace, requests
are taken oldest batch first, in index order. So one workspace's 100,000-request batch
gets no more than its share while a small batch of another workspace waits: the small
one's requests are claimed as soon as a slot frees, not after the big one drains.

Each workspace's requests are read per batch through the partial index of pending
requests (``batch_seq``, ``idx``), so finished requests are never scanned.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from .queries import AnyRow
from .schema import batch_requests, batches

b = batches.c
r = batch_requests.c


@dataclass(slots=True)
class _Workspace:
    order: int
    """Rank of the workspace's oldest open batch (ties in the share go to the oldest)."""
    batches: list[AnyRow] = field(default_factory=list)
    """Its in-progress batches, oldest first; those found empty are dropped."""
    after: int = -1
    """The last index taken from the first batch in this claim (its rows are still pending)."""


def share(n: int, load: Mapping[str, int], order: Mapping[str, int]) -> dict[str, int]:
    """Give ``n`` slots one by one to the least loaded workspace (then the lowest ``order``)."""
    heap = [(load[w], order[w], w) for w in load]
    heapq.heapify(heap)
    given: dict[str, int] = {}
    for _ in range(n if heap else 0):
        running, rank, workspace = heapq.heappop(heap)
        given[workspace] = given.get(workspace, 0) + 1
        heapq.heappush(heap, (running + 1, rank, workspace))
    return given


def _open_batches(conn: Connection, skip: Collection[str]) -> dict[str, _Workspace]:
    query = (
        select(b.id, b.seq, b.workspace_id, b.api_version, b.created_by_key_id)
        .where(b.processing_status == "in_progress", b.open_count > 0)
        .order_by(b.seq)
    )
    found: dict[str, _Workspace] = {}
    for row in conn.execute(query):
        if row.workspace_id not in skip:
            found.setdefault(row.workspace_id, _Workspace(order=len(found))).batches.append(row)
    return found


def _running(conn: Connection) -> dict[str, int]:
    query = (
        select(b.workspace_id, func.count())
        .select_from(batch_requests.join(batches, b.id == r.batch_id))
        .where(r.status == "running")
        .group_by(b.workspace_id)
    )
    return {workspace: int(n) for workspace, n in conn.execute(query)}


def _take(conn: Connection, workspace: _Workspace, n: int) -> list[tuple[AnyRow, AnyRow]]:
    """Up to ``n`` pending requests of the workspace (locked), with their batch rows."""
    taken: list[tuple[AnyRow, AnyRow]] = []
    while workspace.batches and len(taken) < n:
        batch = workspace.batches[0]
        query = (
            select(r.batch_id, r.idx, r.custom_id, r.params)
            .where(r.status == "pending", r.batch_seq == batch.seq, r.idx > workspace.after)
            .order_by(r.idx)
            .limit(n - len(taken))
            .with_for_update(skip_locked=True)
        )
        rows = conn.execute(query).all()
        taken += [(row, batch) for row in rows]
        if rows:
            workspace.after = rows[-1].idx
        if len(taken) < n:
            workspace.batches.pop(0)
            workspace.after = -1
    return taken


def fair_pending(conn: Connection, limit: int, skip: Collection[str] = ()) -> Sequence[tuple[AnyRow, AnyRow]]:
    """Up to ``limit`` pending requests, locked, shared fairly between workspaces (those in
    ``skip`` get none); each with its batch's row."""
    workspaces = _open_batches(conn, skip)
    if not workspaces:
        return []
    running = _running(conn)
    load = {w: running.get(w, 0) for w in workspaces}
    order = {w: ws.order for w, ws in workspaces.items()}
    taken: list[tuple[AnyRow, AnyRow]] = []
    while len(taken) < limit and load:
        for workspace, n in share(limit - len(taken), load, order).items():
            got = _take(conn, workspaces[workspace], n)
            taken += got
            load[workspace] += len(got)
            if len(got) < n:  # nothing more pending there
                del load[workspace]
    return taken
