"""Workspaces, API keys (API and admin) and workspace members.

``find_key`` runs on every authenticated request on every replica, so it reads the
shared database directly (no cache), in a read transaction of its own: on SQLite a
deferred one, which never waits for a writer, and on PostgreSQL a pooled connection,
so a long batch transaction or an admin write never holds up verification.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, select, true, update

from .common import ListPage, PageQuery
from .database import Database
from .queries import AnyRow, from_row, insert_new, keyset_page, reader, to_row
from .schema import api_keys, workspace_members, workspaces

KeyKind = Literal["api", "admin"]
KeyStatus = Literal["active", "inactive", "archived", "expired"]
WorkspaceRole = Literal[
    "workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin", "workspace_billing"
]
DEFAULT_WORKSPACE_ID = "wrkspc_default"
"""Created by the baseline migration; the workspace of keys and data from before workspaces existed."""
KEY_LOOKUP_TIMEOUT_MS = 2_000
"""PostgreSQL: the key lookup of every authenticated request gives up after this long
(a locked or stuck database answers 500 at once rather than pinning a worker thread)."""


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


class WorkspaceQuery(PageQuery, total=False):
    """The arguments of :meth:`TenancyStore.list_workspaces`."""

    include_archived: bool
    include_default: bool
    ids: Sequence[str] | None


class KeyQuery(PageQuery, total=False):
    """The arguments of :meth:`TenancyStore.list_keys` but the clock."""

    kind: KeyKind | None
    status: KeyStatus | None
    workspace_id: str | None
    created_by_id: str | None


def _workspace(row: AnyRow) -> WorkspaceRecord:
    return from_row(
        WorkspaceRecord,
        row,
        tags=json.loads(row.tags) if row.tags else {},
        data_residency=json.loads(row.data_residency) if row.data_residency else None,
    )


_KEY_COLUMNS = tuple(c for c in api_keys.c if c.name not in ("seq", "key_hash"))


_key = reader(ApiKeyRecord)
_member = reader(MemberRecord)


class TenancyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # ------------------------------------------------------------ workspaces

    def add_workspace(self, record: WorkspaceRecord) -> bool:
        """False when a workspace with that id exists already (nothing is changed)."""
        values = {
            **to_row(record),
            "tags": json.dumps(record.tags),
            "data_residency": json.dumps(record.data_residency) if record.data_residency is not None else None,
        }
        with self._db.write() as conn:
            return insert_new(conn, workspaces, values)

    def get_workspace(self, workspace_id: str) -> WorkspaceRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).first()
        return _workspace(row) if row else None

    def list_workspaces(
        self,
        *,
        limit: int,
        before_id: str | None = None,
        after_id: str | None = None,
        include_archived: bool = False,
        include_default: bool = False,
        ids: Sequence[str] | None = None,
    ) -> ListPage[WorkspaceRecord]:
        where: ColumnElement[bool] = true()
        if not include_archived:
            where &= workspaces.c.archived_at.is_(None)
        if not include_default:
            where &= workspaces.c.id != DEFAULT_WORKSPACE_ID
        with self._db.read() as conn:
            return keyset_page(
                conn, workspaces, where, _workspace, limit=limit, before_id=before_id, after_id=after_id, ids=ids
            )

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
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if display_color is not None:
            values["display_color"] = display_color
        if tags is not None:
            values["tags"] = json.dumps(tags)
        if data_residency is not None:
            values["data_residency"] = json.dumps(data_residency)
        with self._db.write() as conn:
            if values:
                conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(**values))
            row = conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).first()
        return _workspace(row) if row else None

    def archive_workspace(self, workspace_id: str, now: float) -> WorkspaceRecord | None:
        """Set ``archived_at`` (once) and archive every key of the workspace, in one transaction."""
        ws = workspaces.c
        with self._db.write() as conn:
            conn.execute(
                update(workspaces).where(ws.id == workspace_id, ws.archived_at.is_(None)).values(archived_at=now)
            )
            conn.execute(update(api_keys).where(api_keys.c.workspace_id == workspace_id).values(status="archived"))
            row = conn.execute(select(workspaces).where(ws.id == workspace_id)).first()
        return _workspace(row) if row else None

    # ------------------------------------------------------------ keys

    def add_key(self, record: ApiKeyRecord, key_hash: str) -> bool:
        """False when the hash (or the id) is registered already (nothing is changed)."""
        with self._db.write() as conn:
            return insert_new(conn, api_keys, {**to_row(record), "key_hash": key_hash})

    def _one_key(self, where: ColumnElement[bool]) -> ApiKeyRecord | None:
        with self._db.read() as conn:
            row = conn.execute(select(*_KEY_COLUMNS).where(where)).first()
        return _key(row) if row else None

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._one_key(api_keys.c.id == key_id)

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        return self._one_key(api_keys.c.key_hash == key_hash)

    def find_key(self, key_hash: str) -> KeyMatch | None:
        """The key with this hash and whether its workspace is archived (verification)."""
        query = (
            select(*_KEY_COLUMNS, api_keys.c.key_hash, workspaces.c.archived_at.label("workspace_archived_at"))
            .select_from(api_keys.outerjoin(workspaces, workspaces.c.id == api_keys.c.workspace_id))
            .where(api_keys.c.key_hash == key_hash)
        )
        with self._db.read(statement_timeout_ms=KEY_LOOKUP_TIMEOUT_MS) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return KeyMatch(key=_key(row), key_hash=row.key_hash, workspace_archived=row.workspace_archived_at is not None)

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
        k = api_keys.c
        where: ColumnElement[bool] = true()
        if kind is not None:
            where &= k.kind == kind
        if status == "expired":
            due = k.expires_at.is_not(None) & (k.expires_at <= (now if now is not None else float("inf")))
            where &= (k.status == "expired") | ((k.status == "active") & due)
        elif status == "active":
            live = k.expires_at.is_(None) | (k.expires_at > (now if now is not None else float("-inf")))
            where &= (k.status == "active") & live
        elif status is not None:
            where &= k.status == status
        if workspace_id is not None:
            where &= k.workspace_id == workspace_id
        if created_by_id is not None:
            where &= k.created_by_id == created_by_id
        with self._db.read() as conn:
            return keyset_page(conn, api_keys, where, _key, limit=limit, before_id=before_id, after_id=after_id)

    def update_key(
        self, key_id: str, *, name: str | None = None, status: KeyStatus | None = None
    ) -> ApiKeyRecord | None:
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if status is not None:
            values["status"] = status
        with self._db.write() as conn:
            if values:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(**values))
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def count_keys(self, kind: KeyKind, *, status: KeyStatus = "active") -> int:
        query = select(func.count()).select_from(api_keys).where(api_keys.c.kind == kind, api_keys.c.status == status)
        with self._db.read() as conn:
            return int(conn.scalar(query) or 0)

    # ------------------------------------------------------------ members

    def put_member(self, member: MemberRecord, *, create: bool) -> bool:
        """Insert (``create``) or change the role of a member; False if it already
        exists (insert) or does not (update)."""
        m = workspace_members.c
        with self._db.write() as conn:
            if create:
                return insert_new(conn, workspace_members, to_row(member))
            result = conn.execute(
                update(workspace_members)
                .where(m.workspace_id == member.workspace_id, m.user_id == member.user_id)
                .values(workspace_role=member.workspace_role)
            )
            return result.rowcount == 1

    def get_member(self, workspace_id: str, user_id: str) -> MemberRecord | None:
        m = workspace_members.c
        with self._db.read() as conn:
            row = conn.execute(
                select(workspace_members).where(m.workspace_id == workspace_id, m.user_id == user_id)
            ).first()
        return _member(row) if row else None

    def list_members(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[MemberRecord]:
        """Oldest first; the cursors are user ids."""
        m = workspace_members.c
        where: ColumnElement[bool] = m.workspace_id == workspace_id
        descending = bool(before_id and not after_id)
        with self._db.read() as conn:
            cursor_id = after_id or before_id
            if cursor_id:
                cursor = conn.scalar(select(m.seq).where(m.workspace_id == workspace_id, m.user_id == cursor_id))
                if cursor is None:
                    return ListPage([], False)
                where &= m.seq > cursor if after_id else m.seq < cursor
            order = m.seq.desc() if descending else m.seq.asc()
            rows = conn.execute(select(workspace_members).where(where).order_by(order).limit(limit + 1)).all()
        page = list(rows[:limit])
        if descending:
            page.reverse()
        return ListPage([_member(r) for r in page], len(rows) > limit)

    def remove_member(self, workspace_id: str, user_id: str) -> bool:
        m = workspace_members.c
        with self._db.write() as conn:
            result = conn.execute(delete(workspace_members).where(m.workspace_id == workspace_id, m.user_id == user_id))
        return result.rowcount == 1
