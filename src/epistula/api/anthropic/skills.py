"""``/v1/skills`` (beta ``skills-2025-10-02``): custom skills and their versions.

Uploads are multipart ``files[]`` parts whose file names are paths inside one top-level
directory holding ``SKILL.md``. The budgets (total bytes, file count) are enforced while
the body is read, before any file is looked at (:mod:`epistula.skills.bundle`).
"""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from epistula.api.anthropic.files import FORM_OVERHEAD, bounded, stream_chunks
from epistula.api.callers import authorized, owned
from epistula.api.operations import Api, Content, Param
from epistula.api.paging import decode_page, page_cursor
from epistula.api.request import app_state, query_limit
from epistula.api.state import available
from epistula.errors import InvalidRequestError
from epistula.protocol.skills import (
    DeletedSkill,
    DeletedSkillVersion,
    Skill,
    SkillPage,
    SkillVersion,
    SkillVersionPage,
)
from epistula.skills.bundle import UploadedFile, too_large
from epistula.skills.service import SkillService, skill_object, version_object

API = Api("skills")
SKILL = "/v1/skills/{skill_id}"
VERSIONS = SKILL + "/versions"
VERSION = VERSIONS + "/{version}"
SOURCES = ("custom", "anthropic")
ZIP = Content("application/zip", schema={"type": "string", "format": "binary"})
_FILES = {
    "files[]": {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "The skill's files; each part's file name is its path (``my-skill/SKILL.md``).",
    }
}
CREATE = Content(
    "multipart/form-data",
    schema={
        "type": "object",
        "required": ["files[]"],
        "properties": {**_FILES, "display_name": {"type": "string", "maxLength": 255}},
    },
)
NEW_VERSION = Content("multipart/form-data", schema={"type": "object", "required": ["files[]"], "properties": _FILES})
PAGE_PARAMS = (
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}, "Page size."),
    Param("page", {"type": "string"}, "The opaque ``next_page`` cursor of the previous page.", empty_ok=True),
)


def _service(request: Request) -> SkillService:
    return available(app_state(request).skills, "the Skills API")


async def _form(request: Request, service: SkillService) -> FormData:
    """The multipart body, refused past the byte and file budgets while it is read."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise InvalidRequestError(
            f"Unsupported content type: {ctype.split(';')[0] or '(none)'}; expected multipart/form-data"
        )
    limits = service.limits
    limit = limits.max_bytes + FORM_OVERHEAD
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large(limits)
    stream = bounded(request.stream(), limit)
    parser = MultiPartParser(request.headers, stream, max_files=limits.max_files, max_fields=16)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequestError(f"invalid multipart body: {exc.message}") from None


def _uploads(form: FormData) -> list[UploadedFile]:
    parts = form.getlist("files[]") + form.getlist("files")
    if any(not isinstance(part, UploadFile) for part in parts):
        raise InvalidRequestError("files: every part must be a file")
    return [UploadedFile(part.filename, part.file, part.size or 0) for part in parts if isinstance(part, UploadFile)]


def _page_query(request: Request) -> tuple[int, str | None]:
    page = request.query_params.get("page") or None
    return query_limit(request), decode_page(page) if page else None


@API.post("/v1/skills", "skills_create", request=CREATE)
async def create_skill(request: Request) -> Skill:
    """Create a skill"""
    principal, _ = await authorized(request)
    service = _service(request)
    form = await _form(request, service)
    try:
        display_name = form.get("display_name")
        if display_name is not None and not isinstance(display_name, str):
            raise InvalidRequestError("display_name: must be a string")
        record = await service.create(principal.workspace_id, _uploads(form), display_name=display_name or None)
    finally:
        await form.close()
    return skill_object(record)


@API.get(
    "/v1/skills",
    "skills_list",
    params=(
        *PAGE_PARAMS,
        Param("source", {"type": "string", "enum": list(SOURCES)}, "Only skills of this source.", empty_ok=True),
    ),
)
async def list_skills(request: Request) -> SkillPage:
    """List skills"""
    principal, _ = await authorized(request)
    source = request.query_params.get("source") or None
    if source is not None and source not in SOURCES:
        raise InvalidRequestError(f"source: Input should be {' or '.join(repr(s) for s in SOURCES)}")
    limit, after_id = _page_query(request)
    page = await _service(request).list(principal.workspace_id, limit=limit, after_id=after_id, source=source)
    data = [skill_object(r) for r in page.items]
    return SkillPage(data=data, has_more=page.has_more, next_page=_next(page.has_more, data))


def _next(has_more: bool, data: list[Skill] | list[SkillVersion]) -> str | None:
    return page_cursor(data[-1].id) if has_more and data else None


@API.get(SKILL, "skills_retrieve")
async def get_skill(request: Request) -> Skill:
    """Get a skill"""
    skill = await owned(request, "skill_id")
    return skill_object(await _service(request).get(*skill))


@API.delete(SKILL, "skills_delete")
async def delete_skill(request: Request) -> DeletedSkill:
    """Delete a skill and all its versions"""
    workspace_id, skill_id = await owned(request, "skill_id")
    await _service(request).delete(workspace_id, skill_id)
    return DeletedSkill(id=skill_id)


@API.post(VERSIONS, "skills_versions_create", request=NEW_VERSION)
async def create_version(request: Request) -> SkillVersion:
    """Create a skill version"""
    principal, _ = await authorized(request)
    service = _service(request)
    form = await _form(request, service)
    try:
        record = await service.add_version(principal.workspace_id, request.path_params["skill_id"], _uploads(form))
    finally:
        await form.close()
    return version_object(record)


@API.get(VERSIONS, "skills_versions_list", params=PAGE_PARAMS)
async def list_versions(request: Request) -> SkillVersionPage:
    """List a skill's versions"""
    principal, _ = await authorized(request)
    limit, after_id = _page_query(request)
    page = await _service(request).list_versions(
        principal.workspace_id, request.path_params["skill_id"], limit=limit, after_id=after_id
    )
    data = [version_object(r) for r in page.items]
    return SkillVersionPage(data=data, has_more=page.has_more, next_page=_next(page.has_more, data))


@API.get(VERSION, "skills_versions_retrieve")
async def get_version(request: Request) -> SkillVersion:
    """Get a skill version"""
    version = await owned(request, "skill_id", "version")
    record = await _service(request).get_version(*version)
    return version_object(record)


@API.delete(VERSION, "skills_versions_delete")
async def delete_version(request: Request) -> DeletedSkillVersion:
    """Delete a skill version (not a skill's only one)"""
    version = await owned(request, "skill_id", "version")
    version_id = await _service(request).delete_version(*version)
    return DeletedSkillVersion(id=version_id)


@API.get(VERSION + "/content", "skills_versions_content", response=ZIP)
async def download_version(request: Request) -> Response:
    """Download a skill version's files as a zip archive"""
    version = await owned(request, "skill_id", "version")
    record, handle = await _service(request).open_archive(*version)
    return StreamingResponse(
        stream_chunks(handle),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{record.name}.zip"'},
    )
