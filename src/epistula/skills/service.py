"""Custom skills of a workspace: metadata in the database, each version's files as a zip
archive in the same blob store as the Files API. Another workspace gets 404, as for an
unknown id. Epistula publishes no Anthropic skills, so ``source=anthropic`` lists none.

A skill always has at least one version (its ``latest_version_id`` is always set):
deleting a skill deletes its versions, and its only version cannot be deleted alone.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO, Unpack

from epistula import ids
from epistula.errors import InvalidRequestError, NotFoundError
from epistula.protocol.skills import Skill, SkillSource, SkillVersion
from epistula.storage.blobs import BlobStore
from epistula.storage.common import ListPage, PageQuery, rfc3339
from epistula.storage.skills import SkillQuery, SkillRecord, SkillStore, SkillVersionRecord

from .archive import write_archive
from .bundle import SkillBundle, SkillLimits, UploadedFile, check_display_name, read_bundle

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_FILES = 500
LATEST = "latest"


def skill_object(record: SkillRecord) -> Skill:
    return Skill(
        id=record.id,
        display_name=record.display_name,
        source=SkillSource.model_validate({"type": record.source}),
        latest_version_id=record.latest_version_id,
        created_at=rfc3339(record.created_at),
        updated_at=rfc3339(record.updated_at),
    )


def version_object(record: SkillVersionRecord) -> SkillVersion:
    return SkillVersion(
        id=record.id,
        skill_id=record.skill_id,
        name=record.name,
        description=record.description,
        created_at=rfc3339(record.created_at),
        version=record.version,
        directory=record.directory,
    )


class SkillService:
    def __init__(
        self,
        store: SkillStore,
        blobs: BlobStore,
        *,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_files: int = MAX_FILES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.limits = SkillLimits(max_bytes=max_upload_bytes, max_files=max_files)
        self._clock = clock

    async def _store_version(self, workspace_id: str, skill_id: str, bundle: SkillBundle) -> SkillVersionRecord:
        """Write the version's archive (the blob first: a crash leaves an unreferenced blob,
        never a version without files) and return its record, not yet in the database."""
        now = self._clock()
        record = SkillVersionRecord(
            id=ids.new_id("skillver_"),
            skill_id=skill_id,
            workspace_id=workspace_id,
            version=str(int(now * 1_000_000)),
            name=bundle.name,
            description=bundle.description,
            directory=bundle.directory,
            size_bytes=bundle.size_bytes,
            file_count=len(bundle.files),
            created_at=now,
        )

        def archive() -> None:
            with tempfile.TemporaryFile() as staged:
                write_archive(bundle, staged)
                staged.seek(0)
                self._blobs.write(record.id, staged)

        await asyncio.to_thread(archive)
        return record

    async def create(
        self, workspace_id: str, files: Sequence[UploadedFile], *, display_name: str | None = None
    ) -> SkillRecord:
        if display_name is not None:
            check_display_name(display_name)
        bundle = await asyncio.to_thread(read_bundle, files, self.limits)
        skill_id = ids.new_id("skill_")
        version = await self._store_version(workspace_id, skill_id, bundle)
        skill = SkillRecord(
            id=skill_id,
            workspace_id=workspace_id,
            name=bundle.name,
            display_name=display_name or bundle.name,
            source="custom",
            latest_version_id=version.id,
            created_at=version.created_at,
            updated_at=version.created_at,
        )
        try:
            await asyncio.to_thread(self._store.add_skill, skill, version)
        except BaseException:
            await asyncio.to_thread(self._blobs.delete, version.id)
            raise
        return skill

    async def get(self, workspace_id: str, skill_id: str) -> SkillRecord:
        record = await asyncio.to_thread(self._store.get_skill, workspace_id, skill_id)
        if record is None:
            raise NotFoundError(f"Skill not found: {skill_id}")
        return record

    async def list(self, workspace_id: str, **query: Unpack[SkillQuery]) -> ListPage[SkillRecord]:
        return await asyncio.to_thread(self._store.list_skills, workspace_id, **query)

    async def delete(self, workspace_id: str, skill_id: str) -> None:
        version_ids = await asyncio.to_thread(self._store.delete_skill, workspace_id, skill_id)
        if version_ids is None:
            raise NotFoundError(f"Skill not found: {skill_id}")
        for version_id in version_ids:
            await asyncio.to_thread(self._blobs.delete, version_id)

    # ------------------------------------------------------------ versions

    async def add_version(self, workspace_id: str, skill_id: str, files: Sequence[UploadedFile]) -> SkillVersionRecord:
        skill = await self.get(workspace_id, skill_id)
        bundle = await asyncio.to_thread(read_bundle, files, self.limits)
        if bundle.name != skill.name:
            raise InvalidRequestError(
                f"SKILL.md: front matter `name` is {bundle.name!r}, but this skill's name is {skill.name!r}"
            )
        version = await self._store_version(workspace_id, skill_id, bundle)
        try:
            added = await asyncio.to_thread(self._store.add_version, version)
        except BaseException:
            await asyncio.to_thread(self._blobs.delete, version.id)
            raise
        if added is None:
            await asyncio.to_thread(self._blobs.delete, version.id)
            raise NotFoundError(f"Skill not found: {skill_id}")
        return version

    async def get_version(self, workspace_id: str, skill_id: str, version: str) -> SkillVersionRecord:
        """By version id, by timestamp, or ``latest``."""
        if version == LATEST:
            version = (await self.get(workspace_id, skill_id)).latest_version_id
        record = await asyncio.to_thread(self._store.get_version, workspace_id, skill_id, version)
        if record is None:
            await self.get(workspace_id, skill_id)  # an unknown skill says so
            raise NotFoundError(f"Skill version not found: {version}")
        return record

    async def list_versions(
        self, workspace_id: str, skill_id: str, **query: Unpack[PageQuery]
    ) -> ListPage[SkillVersionRecord]:
        await self.get(workspace_id, skill_id)
        return await asyncio.to_thread(self._store.list_versions, workspace_id, skill_id, **query)

    async def delete_version(self, workspace_id: str, skill_id: str, version: str) -> str:
        """Delete one version; its id."""
        record = await self.get_version(workspace_id, skill_id, version)
        if not await asyncio.to_thread(self._store.delete_version, workspace_id, skill_id, record.id):
            raise InvalidRequestError(
                f"Version {record.id} is the only version of skill {skill_id}; delete the skill instead"
            )
        await asyncio.to_thread(self._blobs.delete, record.id)
        return record.id

    async def open_archive(self, workspace_id: str, skill_id: str, version: str) -> tuple[SkillVersionRecord, BinaryIO]:
        """The version's files as a zip archive (see :mod:`.archive`), for download or a sandbox."""
        record = await self.get_version(workspace_id, skill_id, version)
        return record, await asyncio.to_thread(self._blobs.open, record.id)
