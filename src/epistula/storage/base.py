"""Contracts for durable server state: message batches, file metadata and file bytes.

Why these are synchronous: SQLite is synchronous, and psycopg's synchronous API is the
simplest correct one; the services call stores through ``asyncio.to_thread`` so the
event loop never waits on a disk or a socket. Every method is one transaction, so a
crash (even SIGKILL) leaves the old state or the new one, never half of a change.

Times are POSIX seconds (floats) passed in by the caller: stores never read a clock,
which keeps them deterministic under test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, Generic, Literal, Protocol, TypeVar

T = TypeVar("T")

BatchStatus = Literal["in_progress", "canceling", "ended"]
RequestStatus = Literal["pending", "running", "succeeded", "errored", "canceled", "expired"]
FinalStatus = Literal["succeeded", "errored", "canceled", "expired"]
DeleteOutcome = Literal["deleted", "not_found", "not_ended"]

FINAL_STATUSES: tuple[FinalStatus, ...] = ("succeeded", "errored", "canceled", "expired")

CANCELED_RESULT = '{"type":"canceled"}'
EXPIRED_RESULT = '{"type":"expired"}'


def rfc3339(ts: float) -> str:
    """A stored POSIX time as the API writes it: RFC 3339, UTC, ``Z`` suffix."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class StorageError(Exception):
    """The backing database is unusable (bad URL, failed migration)."""


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
class ClaimedRequest:
    """A request a worker now owns (status ``running``) until it completes or releases it."""

    batch_id: str
    index: int
    custom_id: str
    params: str
    workspace_id: str
    api_version: str


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


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    items: list[T] = field(default_factory=list)
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: str
    workspace_id: str
    filename: str
    mime_type: str
    size_bytes: int
    created_at: float
    downloadable: bool = False
    expires_at: float | None = None


class BatchStore(Protocol):
    """Batches and their requests. Request states: pending -> running -> a final state;
    ``running`` carries the claiming worker's id, and only that worker can finish it."""

    def create_batch(self, batch: BatchRecord, requests: Sequence[NewRequest]) -> None: ...

    def get_batch(self, workspace_id: str, batch_id: str) -> BatchRecord | None: ...

    def list_batches(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[BatchRecord]:
        """Newest first; ``after_id`` pages towards older batches, ``before_id`` towards newer."""
        ...

    def progress(self, batch_id: str) -> Progress: ...

    def cancel_batch(self, workspace_id: str, batch_id: str, now: float) -> BatchRecord | None:
        """Mark the batch canceling and every pending request canceled (running ones may
        still finish); the batch ends at once when nothing is running."""
        ...

    def delete_batch(self, workspace_id: str, batch_id: str) -> DeleteOutcome: ...

    def results(self, batch_id: str, *, after_index: int = -1, limit: int = 500) -> list[RequestResult]:
        """Requests in index order, for streaming results in chunks."""
        ...

    def register_worker(self, worker_id: str) -> None:
        """Announce a live worker (a lock held for the process's lifetime, so that a dead
        process is recognised by other processes as soon as it is gone)."""
        ...

    def unregister_worker(self, worker_id: str) -> None:
        """Graceful stop: the worker's running requests go back to pending."""
        ...

    def claim(self, worker_id: str, limit: int, now: float) -> list[ClaimedRequest]:
        """Atomically move up to ``limit`` pending requests (oldest batch first) to running."""
        ...

    def complete(self, worker_id: str, batch_id: str, index: int, status: FinalStatus, result: str, now: float) -> bool:
        """Write the result and mark the request done in one transaction, only if this
        worker still owns it (False otherwise: it was canceled, expired or re-claimed).
        Ends the batch when this was its last open request."""
        ...

    def release(self, worker_id: str, batch_id: str, index: int) -> bool:
        """Give a claimed request back (transient failure such as an overloaded engine)."""
        ...

    def recover_orphans(self, worker_id: str) -> int:
        """Reset to pending the running requests of workers that are no longer alive."""
        ...

    def expire_batches(self, now: float) -> int:
        """End batches past ``expires_at``: their open requests become ``expired``."""
        ...

    def purge_batches(self, created_before: float, now: float) -> int:
        """Delete the results of ended batches created before the cutoff; set ``archived_at``."""
        ...


class FileStore(Protocol):
    """File metadata; the bytes live in a :class:`BlobStore` under the file id."""

    def add_file(self, record: FileRecord) -> None: ...

    def get_file(self, workspace_id: str, file_id: str) -> FileRecord | None: ...

    def list_files(
        self,
        workspace_id: str,
        *,
        limit: int,
        now: float,
        before_id: str | None = None,
        after_id: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> ListPage[FileRecord]:
        """Newest first, expired files left out; ``ids`` restricts the set (one page)."""
        ...

    def delete_file(self, workspace_id: str, file_id: str) -> bool: ...

    def expired_files(self, now: float, limit: int = 100) -> list[FileRecord]: ...


KeyKind = Literal["api", "admin"]
KeyStatus = Literal["active", "inactive", "archived", "expired"]
WorkspaceRole = Literal[
    "workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin", "workspace_billing"
]


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    id: str
    name: str
    created_at: float
    display_color: str
    tags: dict[str, str] = field(default_factory=dict)
    data_residency: dict[str, object] | None = None
    """As given at creation (None: the defaults)."""
    archived_at: float | None = None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A key's metadata; the secret itself is never stored, only its hash."""

    id: str
    kind: KeyKind
    name: str
    workspace_id: str | None
    """None for admin keys (they belong to the organisation)."""
    status: KeyStatus
    partial_key_hint: str
    created_at: float
    created_by_id: str | None = None
    created_by_type: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """What verification needs about one key hash, read in one query."""

    key: ApiKeyRecord
    key_hash: str
    workspace_archived: bool


@dataclass(frozen=True, slots=True)
class MemberRecord:
    workspace_id: str
    user_id: str
    workspace_role: WorkspaceRole


class TenancyStore(Protocol):
    """Workspaces, API keys (API and admin) and workspace members.

    ``find_key`` runs on every authenticated request on every replica, so it reads the
    shared database directly (no cache) and, in the SQL backends, on a connection of its
    own: a long batch transaction or an admin write never holds up verification."""

    def add_workspace(self, record: WorkspaceRecord) -> bool:
        """False when a workspace with that id exists already (nothing is changed)."""
        ...

    def get_workspace(self, workspace_id: str) -> WorkspaceRecord | None: ...

    def list_workspaces(
        self,
        *,
        limit: int,
        before_id: str | None = None,
        after_id: str | None = None,
        include_archived: bool = False,
        include_default: bool = False,
        ids: Sequence[str] | None = None,
    ) -> ListPage[WorkspaceRecord]: ...

    def update_workspace(
        self,
        workspace_id: str,
        *,
        name: str | None = None,
        display_color: str | None = None,
        tags: dict[str, str] | None = None,
        data_residency: dict[str, object] | None = None,
    ) -> WorkspaceRecord | None:
        """``tags`` and ``data_residency`` replace the stored values (callers merge)."""
        ...

    def archive_workspace(self, workspace_id: str, now: float) -> WorkspaceRecord | None:
        """Set ``archived_at`` (once) and archive every key of the workspace, in one transaction."""
        ...

    def add_key(self, record: ApiKeyRecord, key_hash: str) -> bool:
        """False when the hash is registered already (nothing is changed)."""
        ...

    def get_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...

    def find_key(self, key_hash: str) -> KeyMatch | None:
        """The key with this hash and whether its workspace is archived (verification)."""
        ...

    def list_keys(
        self,
        *,
        limit: int,
        before_id: str | None = None,
        after_id: str | None = None,
        kind: KeyKind | None = "api",
        status: KeyStatus | None = None,
        workspace_id: str | None = None,
        created_by_id: str | None = None,
        now: float | None = None,
    ) -> ListPage[ApiKeyRecord]:
        """Newest first. ``status='expired'`` (and ``'active'``) compare ``expires_at`` with ``now``."""
        ...

    def update_key(
        self, key_id: str, *, name: str | None = None, status: KeyStatus | None = None
    ) -> ApiKeyRecord | None: ...

    def count_keys(self, kind: KeyKind, *, status: KeyStatus = "active") -> int: ...

    def put_member(self, member: MemberRecord, *, create: bool) -> bool:
        """Insert (``create``) or change the role of a member; False if it already
        exists (insert) or does not (update)."""
        ...

    def get_member(self, workspace_id: str, user_id: str) -> MemberRecord | None: ...

    def list_members(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[MemberRecord]: ...

    def remove_member(self, workspace_id: str, user_id: str) -> bool: ...


class Storage(BatchStore, FileStore, TenancyStore, Protocol):
    """One database holding both, opened by :func:`epistula.storage.open_storage`."""

    @property
    def backend(self) -> str: ...

    def applied_migrations(self) -> list[int]: ...

    def close(self) -> None: ...


class BlobTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"blob exceeds {limit} bytes")
        self.limit = limit


class BlobStore(Protocol):
    """Opaque bytes by key. Writes are atomic: a reader sees the whole blob or none."""

    def write(self, key: str, source: BinaryIO, *, limit: int | None = None) -> int:
        """Copy ``source`` to ``key``; return the size. Raise :class:`BlobTooLarge` (and
        keep nothing) past ``limit`` bytes."""
        ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...
