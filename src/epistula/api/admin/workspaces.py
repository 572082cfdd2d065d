"""Admin API: ``/v1/organizations/workspaces`` (create, list, retrieve, update, archive)
and their members (``.../{workspace_id}/members``).

Members are recorded as the real API shapes them (user id and workspace role); epistula
has no users or Console, so membership is bookkeeping for tools that manage it, and
grants nothing by itself: access is by API key, and a key's workspace is its scope.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.operations import IDS_NOTE, PAGING, Api, Param, array_param
from epistula.api.request import (
    api_version,
    app_state,
    authenticate_admin,
    parse,
    query_bool,
    query_limit,
    query_list,
    read_json,
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
from epistula.storage.common import rfc3339
from epistula.storage.tenancy import MemberRecord, WorkspaceRecord

MAX_ADMIN_BODY = 1024 * 1024
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
        archived_at=rfc3339(record.archived_at) if record.archived_at is not None else None,
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


@API.operation(
    "post",
    WORKSPACES,
    id="workspaces_create",
    summary="Create a workspace",
    request=WorkspaceCreateParams,
    response=Workspace,
)
async def create_workspace(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    params = parse(WorkspaceCreateParams, await read_json(request, MAX_ADMIN_BODY))
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
    return JSONResponse(workspace_object(record).model_dump(mode="json"))


@API.operation(
    "get",
    WORKSPACES,
    id="workspaces_list",
    summary="List workspaces",
    response=Page[Workspace],
    params=(
        *PAGING,
        Param("include_archived", {"type": "boolean"}, "Also archived workspaces.", empty_ok=True),
        Param("include_default", {"type": "boolean"}, "Also the default workspace.", empty_ok=True),
        array_param("ids", "Only these workspaces. " + IDS_NOTE),
    ),
)
async def list_workspaces(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    query = request.query_params
    ids = query_list(request, "ids")
    if ids is not None and len(ids) > MAX_IDS:
        raise InvalidRequestError(f"ids: at most {MAX_IDS} ids may be given")
    page = await run_in_threadpool(
        _workspaces(request).list,
        limit=query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=query.get("after_id") or None,
        include_archived=query_bool(request, "include_archived"),
        include_default=query_bool(request, "include_default"),
        ids=ids,
    )
    data = [workspace_object(r) for r in page.items]
    body = Page[Workspace](
        data=data, has_more=page.has_more, first_id=data[0].id if data else None, last_id=data[-1].id if data else None
    )
    return JSONResponse(body.model_dump(mode="json"))


@API.operation("get", WORKSPACE, id="workspaces_retrieve", summary="Get a workspace", response=Workspace)
async def get_workspace(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    record = await run_in_threadpool(_workspaces(request).get, request.path_params["workspace_id"])
    return JSONResponse(workspace_object(record).model_dump(mode="json"))


@API.operation(
    "post",
    WORKSPACE,
    id="workspaces_update",
    summary="Update a workspace",
    request=WorkspaceUpdateParams,
    response=Workspace,
)
async def update_workspace(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    params = parse(WorkspaceUpdateParams, await read_json(request, MAX_ADMIN_BODY))
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
    return JSONResponse(workspace_object(record).model_dump(mode="json"))


@API.operation(
    "post", WORKSPACE + "/archive", id="workspaces_archive", summary="Archive a workspace", response=Workspace
)
async def archive_workspace(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    record = await run_in_threadpool(_workspaces(request).archive, request.path_params["workspace_id"])
    batches = app_state(request).batches
    if batches is not None:  # the workspace's batches stop with it
        await batches.cancel_workspace(record.id)
    return JSONResponse(workspace_object(record).model_dump(mode="json"))


# ---------------------------------------------------------------- members


@API.operation(
    "post",
    MEMBERS,
    id="workspace_members_create",
    summary="Add a member to a workspace",
    request=MemberAddParams,
    response=WorkspaceMember,
)
async def add_member(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    params = parse(MemberAddParams, await read_json(request, MAX_ADMIN_BODY))
    record = await run_in_threadpool(
        _workspaces(request).add_member, request.path_params["workspace_id"], params.user_id, params.workspace_role
    )
    return JSONResponse(member_object(record).model_dump(mode="json"))


@API.operation(
    "get",
    MEMBERS,
    id="workspace_members_list",
    summary="List a workspace's members",
    response=Page[WorkspaceMember],
    params=PAGING,
)
async def list_members(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    query = request.query_params
    page = await run_in_threadpool(
        _workspaces(request).list_members,
        request.path_params["workspace_id"],
        limit=query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=query.get("after_id") or None,
    )
    data = [member_object(r) for r in page.items]
    body = Page[WorkspaceMember](
        data=data,
        has_more=page.has_more,
        first_id=data[0].user_id if data else None,
        last_id=data[-1].user_id if data else None,
    )
    return JSONResponse(body.model_dump(mode="json"))


@API.operation(
    "get", MEMBER, id="workspace_members_retrieve", summary="Get a workspace member", response=WorkspaceMember
)
async def get_member(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    record = await run_in_threadpool(
        _workspaces(request).get_member, request.path_params["workspace_id"], request.path_params["user_id"]
    )
    return JSONResponse(member_object(record).model_dump(mode="json"))


@API.operation(
    "post",
    MEMBER,
    id="workspace_members_update",
    summary="Change a member's workspace role",
    request=MemberUpdateParams,
    response=WorkspaceMember,
)
async def update_member(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    params = parse(MemberUpdateParams, await read_json(request, MAX_ADMIN_BODY))
    record = await run_in_threadpool(
        _workspaces(request).update_member,
        request.path_params["workspace_id"],
        request.path_params["user_id"],
        params.workspace_role,
    )
    return JSONResponse(member_object(record).model_dump(mode="json"))


@API.operation(
    "delete",
    MEMBER,
    id="workspace_members_delete",
    summary="Remove a member from a workspace",
    response=MemberRemoveResponse,
)
async def remove_member(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    workspace_id, user_id = request.path_params["workspace_id"], request.path_params["user_id"]
    await run_in_threadpool(_workspaces(request).remove_member, workspace_id, user_id)
    return JSONResponse(MemberRemoveResponse(user_id=user_id, workspace_id=workspace_id).model_dump(mode="json"))
