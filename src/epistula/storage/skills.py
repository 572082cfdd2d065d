"""Skills and skill versions, scoped to a workspace; each version's files live in a
:class:`~epistula.storage.blobs.BlobStore` as one zip archive under the version id.
Times are POSIX seconds passed in by the caller (stores never read a clock)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, insert, select, update

from .common import ListPage, PageQuery
from .database import Database
from .queries import keyset_page, reader, to_row
from .schema import skill_versions, skills


@dataclass(frozen=True, slots=True)
class SkillRecord:
    id: str
    workspace_id: str
    name: str
    """The slug every version must keep (SKILL.md ``name``)."""
    display_name: str
    source: str
    latest_version_id: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class SkillVersionRecord:
    id: str
    skill_id: str
    workspace_id: str
    version: str
    """Unix-epoch microseconds, unique within the skill (the older beta's version handle)."""
    name: str
    description: str
    directory: str
    size_bytes: int
    file_count: int
    created_at: float


class SkillQuery(PageQuery, total=False):
    """The arguments of :meth:`SkillStore.list_skills` but the workspace."""

    source: str | None


_skill = reader(SkillRecord)
_version = reader(SkillVersionRecord)


class SkillStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add_skill(self, skill: SkillRecord, first: SkillVersionRecord) -> None:
        """The skill and its first version, in one transaction."""
        with self._db.write() as conn:
            conn.execute(insert(skills).values(to_row(skill)))
            conn.execute(insert(skill_versions).values(to_row(first)))

    def get_skill(self, workspace_id: str, skill_id: str) -> SkillRecord | None:
        with self._db.read() as conn:
            query = select(skills).where(skills.c.id == skill_id, skills.c.workspace_id == workspace_id)
            row = conn.execute(query).first()
        return _skill(row) if row else None

    def list_skills(
        self,
        workspace_id: str,
        *,
        limit: int,
        before_id: str | None = None,
        after_id: str | None = None,
        source: str | None = None,
    ) -> ListPage[SkillRecord]:
        """Newest first, optionally only those of one ``source``."""
        where: ColumnElement[bool] = skills.c.workspace_id == workspace_id
        if source is not None:
            where &= skills.c.source == source
        with self._db.read() as conn:
            return keyset_page(conn, skills, where, _skill, limit=limit, before_id=before_id, after_id=after_id)

    def delete_skill(self, workspace_id: str, skill_id: str) -> list[str] | None:
        """Delete the skill and its versions; the deleted version ids (None: no such skill)."""
        v = skill_versions.c
        with self._db.write() as conn:
            gone = conn.execute(delete(skills).where(skills.c.id == skill_id, skills.c.workspace_id == workspace_id))
            if gone.rowcount != 1:
                return None
            ids = list(conn.scalars(select(v.id).where(v.skill_id == skill_id)))
            conn.execute(delete(skill_versions).where(v.skill_id == skill_id))
        return ids

    # ------------------------------------------------------------ versions

    def add_version(self, record: SkillVersionRecord) -> SkillRecord | None:
        """Add a version and make it the skill's latest (None: the skill is gone)."""
        s = skills.c
        with self._db.write() as conn:
            moved = conn.execute(
                update(skills)
                .where(s.id == record.skill_id, s.workspace_id == record.workspace_id)
                .values(latest_version_id=record.id, updated_at=record.created_at)
            )
            if moved.rowcount != 1:
                return None
            conn.execute(insert(skill_versions).values(to_row(record)))
            row = conn.execute(select(skills).where(s.id == record.skill_id)).first()
        return _skill(row) if row else None

    def get_version(self, workspace_id: str, skill_id: str, version: str) -> SkillVersionRecord | None:
        """By version id or by its timestamp handle."""
        v = skill_versions.c
        mine = (v.skill_id == skill_id) & (v.workspace_id == workspace_id)
        where = mine & ((v.id == version) | (v.version == version))
        with self._db.read() as conn:
            row = conn.execute(select(skill_versions).where(where)).first()
        return _version(row) if row else None

    def list_versions(
        self, workspace_id: str, skill_id: str, *, limit: int, before_id: str | None = None, after_id: str | None = None
    ) -> ListPage[SkillVersionRecord]:
        v = skill_versions.c
        where = (v.skill_id == skill_id) & (v.workspace_id == workspace_id)
        with self._db.read() as conn:
            return keyset_page(
                conn, skill_versions, where, _version, limit=limit, before_id=before_id, after_id=after_id
            )

    def delete_version(self, workspace_id: str, skill_id: str, version_id: str) -> bool:
        """Delete one version of several, the newest remaining becoming the latest
        (False: it is the skill's only version, which is kept)."""
        v, s = skill_versions.c, skills.c
        with self._db.write() as conn:
            mine = (v.skill_id == skill_id) & (v.workspace_id == workspace_id)
            others = conn.execute(
                select(v.id, v.created_at).where(mine, v.id != version_id).order_by(v.seq.desc()).limit(1)
            ).first()
            if others is None:
                return False
            conn.execute(delete(skill_versions).where(mine, v.id == version_id))
            conn.execute(
                update(skills)
                .where(s.id == skill_id, s.latest_version_id == version_id)
                .values(latest_version_id=others.id)
            )
        return True
