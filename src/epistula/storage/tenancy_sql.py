"""The SQL of workspaces, API keys and workspace members (migration 2), shared by the
SQLite and PostgreSQL backends as a mixin of :class:`~epistula.storage.sql.SqlStore`.

Verification (``find_key``) goes through ``_read``, which the backends point at a
connection of its own: it is on the path of every request, and must not queue behind
a batch transaction or an admin write holding the store's main connection.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import ApiKeyRecord, KeyKind, KeyMatch, KeyStatus, ListPage, MemberRecord, WorkspaceRecord

if TYPE_CHECKING:
    from .sql import Cursor

_WS_COLS = "id, name, created_at, display_color, tags, data_residency, archived_at"
_KEY_COLS = (
    "id, kind, name, workspace_id, status, partial_key_hint, created_at, created_by_id, created_by_type, expires_at"
)
DEFAULT_WORKSPACE_ID = "wrkspc_default"
"""Created by migration 2; the workspace of keys and data from before workspaces existed."""


def _workspace(row: Sequence[Any]) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=row[0],
        name=row[1],
        created_at=row[2],
        display_color=row[3],
        tags=json.loads(row[4]) if row[4] else {},
        data_residency=json.loads(row[5]) if row[5] else None,
        archived_at=row[6],
    )


def _key(row: Sequence[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row[0],
        kind=row[1],
        name=row[2],
        workspace_id=row[3],
        status=row[4],
        partial_key_hint=row[5],
        created_at=row[6],
        created_by_id=row[7],
        created_by_type=row[8],
        expires_at=row[9],
    )


class TenancySql:
    """Implements :class:`~epistula.storage.base.TenancyStore`; needs the helpers of ``SqlStore``."""

    _placeholder = "?"

    # ------------------------------------------------------------ provided by SqlStore / backends

    def _tx(self) -> contextlib.AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for one read outside the write path (backends give it its own connection)."""
        return self._tx()

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Cursor:
        raise NotImplementedError

    def _page(
        self,
        cur: Cursor,
        table: str,
        cols: str,
        where: str,
        params: list[Any],
        *,
        limit: int,
        before_id: str | None,
        after_id: str | None,
    ) -> tuple[list[Any], bool]:
        raise NotImplementedError

    def _ignore_conflict(self) -> str:
        """``INSERT ... <this>`` that does nothing on a unique conflict (same text in both dialects)."""
        return " ON CONFLICT DO NOTHING"

    # ------------------------------------------------------------ workspaces

    def add_workspace(self, record: WorkspaceRecord) -> bool:
        with self._tx() as cur:
            cur = self._exec(
                cur,
                "INSERT INTO workspaces (id, name, display_color, tags, data_residency, created_at, archived_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)" + self._ignore_conflict(),
                (
                    record.id,
                    record.name,
                    record.display_color,
                    json.dumps(record.tags),
                    json.dumps(record.data_residency) if record.data_residency is not None else None,
                    record.created_at,
                    record.archived_at,
                ),
            )
            return cur.rowcount == 1

    def get_workspace(self, workspace_id: str) -> WorkspaceRecord | None:
        with self._tx() as cur:
            row = self._exec(cur, f"SELECT {_WS_COLS} FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
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
        where = "1 = 1"
        params: list[Any] = []
        if not include_archived:
            where += " AND archived_at IS NULL"
        if not include_default:
            where += " AND id <> ?"
            params.append(DEFAULT_WORKSPACE_ID)
        if ids is not None:
            if not ids:
                return ListPage([], False)
            where += f" AND id IN ({', '.join('?' for _ in ids)})"
            params.extend(ids)
        with self._tx() as cur:
            rows, more = self._page(
                cur, "workspaces", _WS_COLS, where, params, limit=limit, before_id=before_id, after_id=after_id
            )
        return ListPage([_workspace(r) for r in rows], more)

    def update_workspace(
        self,
        workspace_id: str,
        *,
        name: str | None = None,
        display_color: str | None = None,
        tags: dict[str, str] | None = None,
        data_residency: dict[str, object] | None = None,
    ) -> WorkspaceRecord | None:
        sets: list[str] = []
        params: list[Any] = []
        for column, value in (("name", name), ("display_color", display_color)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if tags is not None:
            sets.append("tags = ?")
            params.append(json.dumps(tags))
        if data_residency is not None:
            sets.append("data_residency = ?")
            params.append(json.dumps(data_residency))
        with self._tx() as cur:
            if sets:
                self._exec(cur, f"UPDATE workspaces SET {', '.join(sets)} WHERE id = ?", [*params, workspace_id])
            row = self._exec(cur, f"SELECT {_WS_COLS} FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
        return _workspace(row) if row else None

    def archive_workspace(self, workspace_id: str, now: float) -> WorkspaceRecord | None:
        with self._tx() as cur:
            self._exec(
                cur, "UPDATE workspaces SET archived_at = ? WHERE id = ? AND archived_at IS NULL", (now, workspace_id)
            )
            self._exec(cur, "UPDATE api_keys SET status = 'archived' WHERE workspace_id = ?", (workspace_id,))
            row = self._exec(cur, f"SELECT {_WS_COLS} FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
        return _workspace(row) if row else None

    # ------------------------------------------------------------ keys

    def add_key(self, record: ApiKeyRecord, key_hash: str) -> bool:
        with self._tx() as cur:
            cur = self._exec(
                cur,
                f"INSERT INTO api_keys ({_KEY_COLS}, key_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                + self._ignore_conflict(),
                (
                    record.id,
                    record.kind,
                    record.name,
                    record.workspace_id,
                    record.status,
                    record.partial_key_hint,
                    record.created_at,
                    record.created_by_id,
                    record.created_by_type,
                    record.expires_at,
                    key_hash,
                ),
            )
            return cur.rowcount == 1

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        with self._tx() as cur:
            row = self._exec(cur, f"SELECT {_KEY_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        with self._tx() as cur:
            row = self._exec(cur, f"SELECT {_KEY_COLS} FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
        return _key(row) if row else None

    def find_key(self, key_hash: str) -> KeyMatch | None:
        cols = ", ".join(f"k.{c.strip()}" for c in _KEY_COLS.split(","))
        with self._read() as cur:
            row = self._exec(
                cur,
                f"SELECT {cols}, k.key_hash, w.archived_at FROM api_keys k"
                " LEFT JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ?",
                (key_hash,),
            ).fetchone()
        if row is None:
            return None
        return KeyMatch(key=_key(row[:10]), key_hash=row[10], workspace_archived=row[11] is not None)

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
        where = "1 = 1"
        params: list[Any] = []
        if kind is not None:
            where += " AND kind = ?"
            params.append(kind)
        if status == "expired":
            where += " AND (status = 'expired' OR (status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?))"
            params.append(now if now is not None else float("inf"))
        elif status == "active":
            where += " AND status = 'active' AND (expires_at IS NULL OR expires_at > ?)"
            params.append(now if now is not None else float("-inf"))
        elif status is not None:
            where += " AND status = ?"
            params.append(status)
        if workspace_id is not None:
            where += " AND workspace_id = ?"
            params.append(workspace_id)
        if created_by_id is not None:
            where += " AND created_by_id = ?"
            params.append(created_by_id)
        with self._tx() as cur:
            rows, more = self._page(
                cur, "api_keys", _KEY_COLS, where, params, limit=limit, before_id=before_id, after_id=after_id
            )
        return ListPage([_key(r) for r in rows], more)

    def update_key(
        self, key_id: str, *, name: str | None = None, status: KeyStatus | None = None
    ) -> ApiKeyRecord | None:
        sets: list[str] = []
        params: list[Any] = []
        if name is not None:
            sets.append("name = ?")
            params.append(name)
        if status is not None:
            sets.append("status = ?")
            params.append(status)
        with self._tx() as cur:
            if sets:
                self._exec(cur, f"UPDATE api_keys SET {', '.join(sets)} WHERE id = ?", [*params, key_id])
            row = self._exec(cur, f"SELECT {_KEY_COLS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def count_keys(self, kind: KeyKind, *, status: KeyStatus = "active") -> int:
        with self._tx() as cur:
            row = self._exec(
                cur, "SELECT count(*) FROM api_keys WHERE kind = ? AND status = ?", (kind, status)
            ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------ members

    def put_member(self, member: MemberRecord, *, create: bool) -> bool:
        with self._tx() as cur:
            if create:
                cur = self._exec(
                    cur,
                    "INSERT INTO workspace_members (workspace_id, user_id, workspace_role) VALUES (?, ?, ?)"
                    + self._ignore_conflict(),
                    (member.workspace_id, member.user_id, member.workspace_role),
                )
            else:
                cur = self._exec(
                    cur,
                    "UPDATE workspace_members SET workspace_role = ? WHERE workspace_id = ? AND user_id = ?",
                    (member.workspace_role, member.workspace_id, member.user_id),
                )
            return cur.rowcount == 1

    def get_member(self, workspace_id: str, user_id: str) -> MemberRecord | None:
        with self._tx() as cur:
            row = self._exec(
                cur,
                "SELECT workspace_id, user_id, workspace_role FROM workspace_members"
                " WHERE workspace_id = ? AND user_id = ?",
                (workspace_id, user_id),
            ).fetchone()
        return MemberRecord(row[0], row[1], row[2]) if row else None

    def list_members(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[MemberRecord]:
        """Oldest first; the cursors are user ids."""
        cols = "workspace_id, user_id, workspace_role, seq"
        with self._tx() as cur:
            where, params = "workspace_id = ?", [workspace_id]
            cursor_id = after_id or before_id
            if cursor_id:
                row = self._exec(
                    cur,
                    "SELECT seq FROM workspace_members WHERE workspace_id = ? AND user_id = ?",
                    (workspace_id, cursor_id),
                ).fetchone()
                if row is None:
                    return ListPage([], False)
                where += " AND seq > ?" if after_id else " AND seq < ?"
                params = [workspace_id, row[0]]
            order = "DESC" if before_id and not after_id else "ASC"
            rows = self._exec(
                cur,
                f"SELECT {cols} FROM workspace_members WHERE {where} ORDER BY seq {order} LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
        more = len(rows) > limit
        rows = list(rows[:limit])
        if order == "DESC":
            rows.reverse()
        return ListPage([MemberRecord(r[0], r[1], r[2]) for r in rows], more)

    def remove_member(self, workspace_id: str, user_id: str) -> bool:
        with self._tx() as cur:
            cur = self._exec(
                cur, "DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?", (workspace_id, user_id)
            )
            return cur.rowcount == 1
