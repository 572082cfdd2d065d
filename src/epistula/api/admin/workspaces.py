"""Admin API: ``/v1/organizations/workspaces`` (create, list, retrieve, update, archive)
and their members (``.../{workspace_id}/members``).

Members are recorded as the real API shapes them (user id and workspace role); epistula
has no users or Console, so membership is bookkeeping for tools that manage it, and
grants nothing by itself: access is by API key, and a key's workspace is its scope.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from epistula.api.callers import admin_params, authorized_admin
from epistula.api.operations import IDS_NOTE, PAGING, Api, Param, array_param
from epistula.api.paging import cursor, listed
from epistula.api.request import (
    app_state,
    query_bool,
    query_list,
)
from epistula.auth.workspaces import Workspaces
from epistula.errors import InvalidRequestError
from epistula.protocol.models import Page
from epistula.protocol.organization import (
    DataResidency,
    MemberAddParams,
    MemberRemoveResponse,
    MemberUpdateParams,
    Workspace,
    WorkspaceCreateParams,
    WorkspaceMember,
    WorkspaceUpdateParams,
)
from epistula.storage.common import optional_rfc3339, rfc3339
from epistula.storage.tenancy import MemberRecord, WorkspaceRecord

MAX_IDS = 100

API = Api("admin", auth="admin")
WORKSPACES = "/v1/organizations/workspaces"
WORKSPACE = WORKSPACES + "/{workspace_id}"
MEMBERS = WORKSPACE + "/members"
MEMBER = MEMBERS + "/{user_id}"


def workspace_object(record: WorkspaceRecord) -> Workspace:
    residency = DataResidency.model_validate(record.data_residency or {})
    return Workspace(
        id=record.id,
        name=record.name,
        display_color=record.display_color,
        created_at=rfc3339(record.created_at),
        archived_at=optional_rfc3339(record.archived_at),
        data_residency=residency,
        tags=record.tags,
        compartment_id="cmpt_" + record.id.removeprefix("wrkspc_"),
    )


def member_object(record: MemberRecord) -> WorkspaceMember:
    return WorkspaceMember(
        user_id=record.user_id, workspace_id=record.workspace_id, workspace_role=record.workspace_role
    )


def _workspaces(request: Request) -> Workspaces:
    return app_state(request).keys.workspaces


def _check_tags(tags: dict[str, str] | dict[str, str | None] | None) -> None:
    for key in tags or {}:
        if key.lower().startswith("anthropic"):
            raise InvalidRequestError(f"tags: keys may not begin with 'anthropic' ({key!r})")


def _unsupported(external_key_id: str | None, user_profile_id: str | None) -> None:
    if external_key_id is not None:
        raise InvalidRequestError("external_key_id: customer-managed encryption keys are not supported on this server")
    if user_profile_id is not None:
        raise InvalidRequestError("user_profile_id: user profiles are not supported on this server")


def _residency(given: dict[str, object]) -> dict[str, object]:
    residency = DataResidency.model_validate(given)
    allowed = residency.allowed_inference_geos
    if allowed != "unrestricted" and residency.default_inference_geo not in allowed:
        raise InvalidRequestError("data_residency.default_inference_geo: must be one of allowed_inference_geos")
    return residency.model_dump(mode="json")


@API.post(WORKSPACES, "workspaces_create", request=WorkspaceCreateParams)
async def create_workspace(request: Request) -> Workspace:
    """Create a workspace"""
    _, params = await admin_params(request, WorkspaceCreateParams)
    _unsupported(params.external_key_id, params.user_profile_id)
    _check_tags(params.tags)
    residency = None
    if params.data_residency is not None:
        residency = _residency(params.data_residency.model_dump(exclude_none=True))
    record = await run_in_threadpool(
        _workspaces(request).create,
        params.name,
        display_color=params.display_color,
        tags=params.tags,
        data_residency=residency,
    )
    return workspace_object(record)


@API.get(
    WORKSPACES,
    "workspaces_list",
    params=(
        *PAGING,
        Param("include_archived", {"type": "boolean"}, "Also archived workspaces.", empty_ok=True),
        Param("include_default", {"type": "boolean"}, "Also the default workspace.", empty_ok=True),
        array_param("ids", "Only these workspaces. " + IDS_NOTE),
    ),
)
async def list_workspaces(request: Request) -> Page[Workspace]:
    """List workspaces"""
    await authorized_admin(request)
    ids = query_list(request, "ids")
    if ids is not None and len(ids) > MAX_IDS:
        raise InvalidRequestError(f"ids: at most {MAX_IDS} ids may be given")
    page = await run_in_threadpool(
        _workspaces(request).list,
        **cursor(request),
        include_archived=query_bool(request, "include_archived"),
        include_default=query_bool(request, "include_default"),
        ids=ids,
    )
    return listed(Page[Workspace], [workspace_object(r) for r in page.items], page.has_more)


async def _workspace_after(request: Request, action: Callable[[Workspaces, str], WorkspaceRecord]) -> Workspace:
    """The path's workspace as ``action`` (a :class:`Workspaces` method) leaves it."""
    await authorized_admin(request)
    record = await run_in_threadpool(action, _workspaces(request), request.path_params["workspace_id"])
    return workspace_object(record)


@API.get(WORKSPACE, "workspaces_retrieve")
async def get_workspace(request: Request) -> Workspace:
    """Get a workspace"""
    return await _workspace_after(request, Workspaces.get)


@API.post(WORKSPACE + "/archive", "workspaces_archive")
async def archive_workspace(request: Request) -> Workspace:
    """Archive a workspace"""
    workspace = await _workspace_after(request, Workspaces.archive)
    batches = app_state(request).batches
    if batches is not None:  # the workspace's batches stop with it
        await batches.cancel_workspace(workspace.id)
    return workspace


@API.post(WORKSPACE, "workspaces_update", request=WorkspaceUpdateParams)
async def update_workspace(request: Request) -> Workspace:
    """Update a workspace"""
    _, params = await admin_params(request, WorkspaceUpdateParams)
    _unsupported(params.external_key_id, params.user_profile_id)
    _check_tags(params.tags)
    workspaces = _workspaces(request)
    workspace_id = request.path_params["workspace_id"]
    residency = None
    if params.data_residency is not None:
        current = await run_in_threadpool(workspaces.get, workspace_id)
        merged = {**(current.data_residency or {}), **params.data_residency.model_dump(exclude_none=True)}
        residency = _residency(merged)
    record = await run_in_threadpool(
        workspaces.update,
        workspace_id,
        name=params.name,
        display_color=params.display_color,
        tags=params.tags,
        data_residency=residency,
    )
    return workspace_object(record)


# ---------------------------------------------------------------- members


@API.post(MEMBERS, "workspace_members_create", request=MemberAddParams)
async def add_member(request: Request) -> WorkspaceMember:
    """Add a member to a workspace"""
    _, params = await admin_params(request, MemberAddParams)
    record = await run_in_threadpool(
        _workspaces(request).add_member, request.path_params["workspace_id"], params.user_id, params.workspace_role
    )
    return member_object(record)


@API.get(MEMBERS, "workspace_members_list", params=PAGING)
async def list_members(request: Request) -> Page[WorkspaceMember]:
    """List a workspace's members"""
    await authorized_admin(request)
    page = await run_in_threadpool(
        _workspaces(request).list_members, request.path_params["workspace_id"], **cursor(request)
    )
    members = [member_object(r) for r in page.items]
    return listed(Page[WorkspaceMember], members, page.has_more, key=attrgetter("user_id"))


@API.get(MEMBER, "workspace_members_retrieve")
async def get_member(request: Request) -> WorkspaceMember:
    """Get a workspace member"""
    await authorized_admin(request)
    record = await run_in_threadpool(
        _workspaces(request).get_member, request.path_params["workspace_id"], request.path_params["user_id"]
    )
    return member_object(record)


@API.post(MEMBER, "workspace_members_update", request=MemberUpdateParams)
async def update_member(request: Request) -> WorkspaceMember:
    """Change a member's workspace role"""
    _, params = await admin_params(request, MemberUpdateParams)
    record = await run_in_threadpool(
        _workspaces(request).update_member,
        request.path_params["workspace_id"],
        request.path_params["user_id"],
        params.workspace_role,
    )
    return member_object(record)


@API.delete(MEMBER, "workspace_members_delete")
async def remove_member(request: Request) -> MemberRemoveResponse:
    """Remove a member from a workspace"""
    await authorized_admin(request)
    workspace_id, user_id = request.path_params["workspace_id"], request.path_params["user_id"]
    await run_in_threadpool(_workspaces(request).remove_member, workspace_id, user_id)
    return MemberRemoveResponse(user_id=user_id, workspace_id=workspace_id)
