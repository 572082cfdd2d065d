"""Skills API wire types (names as in the SDK's ``anthropic.types.beta``, without ``Beta``)."""

from __future__ import annotations

from typing import Literal

from ._base import ResponseModel

SkillSourceType = Literal["custom", "anthropic", "anthropic_example", "plugin"]


class SkillSource(ResponseModel):
    type: SkillSourceType


class Skill(ResponseModel):
    id: str
    type: Literal["skill"] = "skill"
    display_name: str
    source: SkillSource
    latest_version_id: str
    created_at: str
    updated_at: str


class SkillVersion(ResponseModel):
    id: str
    type: Literal["skill_version"] = "skill_version"
    skill_id: str
    name: str
    description: str
    created_at: str
    version: str
    """The version's Unix-epoch microsecond timestamp (``skills-2025-10-02`` paths use it)."""
    directory: str
    """The top-level directory of the uploaded files (the name older SDKs read)."""


class SkillPage(ResponseModel):
    data: list[Skill]
    has_more: bool
    next_page: str | None


class SkillVersionPage(ResponseModel):
    data: list[SkillVersion]
    has_more: bool
    next_page: str | None


class DeletedSkill(ResponseModel):
    id: str
    type: Literal["skill_deleted"] = "skill_deleted"


class DeletedSkillVersion(ResponseModel):
    id: str
    type: Literal["skill_version_deleted"] = "skill_version_deleted"
