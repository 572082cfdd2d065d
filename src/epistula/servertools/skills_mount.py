"""Skills in the code-execution container: the request's ``container.skills`` are unpacked
into the container's ``skills/`` directory, which the sandbox mounts read-only at
``/skills`` (``/skills/<name>/SKILL.md``), and their names and descriptions go into the
system prompt, as the real API does: the model sees what each skill is for, and reads
its ``SKILL.md`` (and the rest) with the tools when a task needs it.

A request's skills replace the ones an earlier request on the same container mounted; a
request without skills mounts none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from epistula.errors import InvalidRequestError
from epistula.protocol.content import TextBlockParam
from epistula.protocol.servertools import ContainerSkill, ContainerSkillParam
from epistula.skills.archive import extract_archive
from epistula.skills.service import SkillService

from .containers import Container
from .sandbox.bubblewrap import SKILLS


@dataclass(frozen=True, slots=True)
class MountedSkill:
    info: ContainerSkill
    """As the response's ``container.skills`` lists it (the version resolved)."""
    name: str
    description: str


async def mount_skills(
    service: SkillService | None, workspace_id: str, container: Container, wanted: list[ContainerSkillParam]
) -> list[MountedSkill]:
    """Unpack ``wanted`` into the container (400 or 404, before any response, for a skill
    that cannot be had) and return them."""
    if wanted and service is None:
        raise InvalidRequestError("container.skills: the Skills API is not enabled on this server")
    staging = container.root / "skills.new"
    await asyncio.to_thread(_remove, staging)
    mounted: list[MountedSkill] = []
    try:
        for index, skill in enumerate(wanted):
            if skill.type == "anthropic":
                raise InvalidRequestError(
                    f"container.skills.{index}: the Anthropic skill `{skill.skill_id}` is not available "
                    "on this server (custom skills are)"
                )
            assert service is not None
            record, archive = await service.open_archive(workspace_id, skill.skill_id, skill.version)
            if any(m.name == record.name for m in mounted):
                raise InvalidRequestError(f"container.skills.{index}: a skill named `{record.name}` is already listed")
            with archive:
                await asyncio.to_thread(extract_archive, archive, staging)
            info = ContainerSkill(skill_id=skill.skill_id, type="custom", version=record.version)
            mounted.append(MountedSkill(info=info, name=record.name, description=record.description))
        await asyncio.to_thread(_publish, staging, container.skills)
    finally:
        await asyncio.to_thread(_remove, staging)
    return mounted


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _publish(staging: Path, target: Path) -> None:
    """Make the unpacked files readable by the sandbox's user, and swap them in."""
    _remove(target)
    if not staging.is_dir():
        return
    for root, _, files in os.walk(staging):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
    staging.rename(target)


def skills_prompt(skills: list[MountedSkill]) -> TextBlockParam:
    """The system prompt's part that names the skills (their bodies are read on demand)."""
    lines = [
        "You have skills: folders of instructions, scripts and resources in the code-execution "
        f"container, read-only under {SKILLS}. Before a task that a skill covers, read its SKILL.md "
        f"with the bash tool (for example `cat {SKILLS}/<name>/SKILL.md`) and follow it.",
        "<skills>",
        *(f"- {skill.name} ({SKILLS}/{skill.name}/SKILL.md): {skill.description}" for skill in skills),
        "</skills>",
    ]
    return TextBlockParam(type="text", text="\n".join(lines))
