"""Workspaces and their members: the rules the Admin API and the CLI share.

A workspace scopes keys and everything created with them (batches, files, cached
prompts). The default workspace (``wrkspc_default``, made by migration 2) always exists
and cannot be archived. Archiving a workspace archives its keys in the same transaction,
and verification also refuses keys of an archived workspace.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Unpack

from epistula import ids
from epistula.errors import InvalidRequestError, NotFoundError
from epistula.storage.common import ListPage
from epistula.storage.tenancy import (
    DEFAULT_WORKSPACE_ID,
    MemberRecord,
    TenancyStore,
    WorkspaceQuery,
    WorkspaceRecord,
    WorkspaceRole,
)

DEFAULT_COLOR = "#6C5BB9"
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
NAME_MAX = 40


def check_name(name: str) -> str:
    if not 1 <= len(name.strip()) <= NAME_MAX:
        raise InvalidRequestError(f"name: must be 1 to {NAME_MAX} characters")
    return name.strip()


def check_color(color: str) -> str:
    if not _COLOR.fullmatch(color):
        raise InvalidRequestError(f"display_color: {color!r} is not a hex color such as #6C5BB9")
    return color


def _not_a_member(workspace_id: str, user_id: str) -> NotFoundError:
    return NotFoundError(f"user_id: user {user_id} is not a member of workspace {workspace_id}")


class Workspaces:
    def __init__(self, store: TenancyStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def create(
        self,
        name: str,
        *,
        display_color: str | None = None,
        tags: Mapping[str, str] | None = None,
        data_residency: dict[str, object] | None = None,
        workspace_id: str | None = None,
    ) -> WorkspaceRecord:
        """A new workspace; ``workspace_id`` (tests, imports) must not exist yet."""
        record = WorkspaceRecord(
            id=workspace_id or ids.new_id("wrkspc_"),
            name=check_name(name),
            created_at=self.clock(),
            display_color=check_color(display_color) if display_color else DEFAULT_COLOR,
            tags=dict(tags or {}),
            data_residency=data_residency,
        )
        if not self.store.add_workspace(record):
            raise InvalidRequestError(f"workspace {record.id} already exists")
        return record

    def ensure(self, workspace_id: str, *, name: str | None = None) -> WorkspaceRecord:
        """The workspace with this id, created (named after its id) if missing."""
        existing = self.store.get_workspace(workspace_id)
        if existing is not None:
            return existing
        record = WorkspaceRecord(
            id=workspace_id, name=name or workspace_id, created_at=self.clock(), display_color=DEFAULT_COLOR
        )
        self.store.add_workspace(record)
        found = self.store.get_workspace(workspace_id)
        assert found is not None
        return found

    def get(self, workspace_id: str) -> WorkspaceRecord:
        record = self.store.get_workspace(workspace_id)
        if record is None:
            raise NotFoundError(f"workspace_id: workspace {workspace_id} not found")
        return record

    def list(self, **query: Unpack[WorkspaceQuery]) -> ListPage[WorkspaceRecord]:
        return self.store.list_workspaces(**query)

    def update(
        self,
        workspace_id: str,
        *,
        name: str | None = None,
        display_color: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        data_residency: dict[str, object] | None = None,
    ) -> WorkspaceRecord:
        """``tags`` merges into the existing map; a ``null`` value removes that tag."""
        current = self.get(workspace_id)
        if current.archived_at is not None:
            raise InvalidRequestError(f"workspace {workspace_id} is archived and cannot be changed")
        merged: dict[str, str] | None = None
        if tags is not None:
            merged = dict(current.tags)
            for key, value in tags.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
        updated = self.store.update_workspace(
            workspace_id,
            name=check_name(name) if name is not None else None,
            display_color=check_color(display_color) if display_color is not None else None,
            tags=merged,
            data_residency=data_residency,
        )
        assert updated is not None
        return updated

    def archive(self, workspace_id: str) -> WorkspaceRecord:
        if workspace_id == DEFAULT_WORKSPACE_ID:
            raise InvalidRequestError("the default workspace cannot be archived")
        self.get(workspace_id)
        archived = self.store.archive_workspace(workspace_id, self.clock())
        assert archived is not None
        return archived

    # ------------------------------------------------------------ members

    def _active(self, workspace_id: str) -> WorkspaceRecord:
        record = self.get(workspace_id)
        if record.archived_at is not None:
            raise InvalidRequestError(f"workspace {workspace_id} is archived and cannot be changed")
        return record

    def _put_member(self, workspace_id: str, user_id: str, role: WorkspaceRole, *, create: bool) -> MemberRecord:
        self._active(workspace_id)
        member = MemberRecord(workspace_id=workspace_id, user_id=user_id, workspace_role=role)
        if self.store.put_member(member, create=create):
            return member
        if create:
            raise InvalidRequestError(f"user {user_id} is already a member of workspace {workspace_id}")
        raise _not_a_member(workspace_id, user_id)

    def add_member(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> MemberRecord:
        return self._put_member(workspace_id, user_id, role, create=True)

    def get_member(self, workspace_id: str, user_id: str) -> MemberRecord:
        self.get(workspace_id)
        member = self.store.get_member(workspace_id, user_id)
        if member is None:
            raise _not_a_member(workspace_id, user_id)
        return member

    def list_members(
        self, workspace_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[MemberRecord]:
        self.get(workspace_id)
        return self.store.list_members(workspace_id, limit=limit, before_id=before_id, after_id=after_id)

    def update_member(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> MemberRecord:
        return self._put_member(workspace_id, user_id, role, create=False)

    def remove_member(self, workspace_id: str, user_id: str) -> None:
        self.get(workspace_id)
        if not self.store.remove_member(workspace_id, user_id):
            raise _not_a_member(workspace_id, user_id)
