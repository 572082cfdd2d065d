"""Admin API: ``/v1/organizations/api_keys`` (list, retrieve, update) and ``/v1/organizations/me``.

The real API creates keys only in the Console; epistula adds ``POST
/v1/organizations/api_keys`` (admin keys only) returning the new key's object plus its
secret in ``key``, so that keys can be handed out programmatically, as the CLI does.
Admin keys themselves are not listed here (as on the real API); the CLI manages them.
"""

from __future__ import annotations

from typing import Literal, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.operations import PAGING, Api, Param
from epistula.api.request import api_version, app_state, authenticate_admin, parse, query_limit, read_json
from epistula.auth.keys import DEFAULT_WORKSPACE, KeyStore, effective_status
from epistula.errors import InvalidRequestError
from epistula.protocol.models import Page
from epistula.protocol.organization import (
    APIKey,
    APIKeyCreatedBy,
    APIKeyCreateParams,
    APIKeyUpdateParams,
    APIKeyWorkspaceScope,
    NewAPIKey,
    OrganizationInfo,
)
from epistula.storage.common import rfc3339
from epistula.storage.tenancy import ApiKeyRecord

MAX_ADMIN_BODY = 1024 * 1024
STATUSES = ("active", "inactive", "archived", "expired")

API = Api("admin", auth="admin")


def api_key_object(record: ApiKeyRecord, now: float) -> APIKey:
    workspace_id = record.workspace_id or DEFAULT_WORKSPACE
    created_by = None
    if record.created_by_id and record.created_by_type:
        created_by = APIKeyCreatedBy(id=record.created_by_id, type=record.created_by_type)
    return APIKey(
        id=record.id,
        name=record.name,
        status=effective_status(record, now),
        created_at=rfc3339(record.created_at),
        created_by=created_by,
        expires_at=rfc3339(record.expires_at) if record.expires_at is not None else None,
        partial_key_hint=record.partial_key_hint,
        scope=APIKeyWorkspaceScope(workspace_id=workspace_id),
        workspace_id=None if workspace_id == DEFAULT_WORKSPACE else workspace_id,
    )


def _keys(request: Request) -> KeyStore:
    return app_state(request).keys


@API.operation(
    "get",
    "/v1/organizations/me",
    id="organization_me",
    summary="The organization of the admin key",
    response=OrganizationInfo,
)
async def get_organization(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    settings = app_state(request).settings
    return JSONResponse(OrganizationInfo(id=settings.organization_id, name="epistula").model_dump(mode="json"))


@API.operation(
    "get",
    "/v1/organizations/api_keys",
    id="api_keys_list",
    summary="List API keys",
    response=Page[APIKey],
    params=(
        *PAGING,
        Param("status", {"type": "string", "enum": list(STATUSES)}, "Filter.", empty_ok=True),
        Param("workspace_id", {"type": "string"}, "Filter.", empty_ok=True),
        Param("created_by_user_id", {"type": "string"}, "Filter.", empty_ok=True),
    ),
)
async def list_api_keys(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequestError("status: Input should be 'active', 'inactive', 'archived' or 'expired'")
    keys = _keys(request)
    page = await run_in_threadpool(
        keys.list,
        limit=query_limit(request),
        before_id=query.get("before_id") or None,
        after_id=query.get("after_id") or None,
        status=cast(Literal["active", "inactive", "archived", "expired"] | None, status),
        workspace_id=query.get("workspace_id") or None,
        created_by_id=query.get("created_by_user_id") or None,
    )
    now = keys.clock()
    data = [api_key_object(r, now) for r in page.items]
    body = Page[APIKey](
        data=data, has_more=page.has_more, first_id=data[0].id if data else None, last_id=data[-1].id if data else None
    )
    return JSONResponse(body.model_dump(mode="json"))


@API.operation(
    "get", "/v1/organizations/api_keys/{api_key_id}", id="api_keys_retrieve", summary="Get an API key", response=APIKey
)
async def get_api_key(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    keys = _keys(request)
    record = await run_in_threadpool(keys.get, request.path_params["api_key_id"])
    return JSONResponse(api_key_object(record, keys.clock()).model_dump(mode="json"))


@API.operation(
    "post",
    "/v1/organizations/api_keys/{api_key_id}",
    id="api_keys_update",
    summary="Rename, disable, enable or archive an API key",
    request=APIKeyUpdateParams,
    response=APIKey,
)
async def update_api_key(request: Request) -> Response:
    await authenticate_admin(request)
    api_version(request)
    params = parse(APIKeyUpdateParams, await read_json(request, MAX_ADMIN_BODY))
    keys = _keys(request)
    record = await run_in_threadpool(
        keys.update, request.path_params["api_key_id"], name=params.name, status=params.status
    )
    return JSONResponse(api_key_object(record, keys.clock()).model_dump(mode="json"))


@API.operation(
    "post",
    "/v1/organizations/api_keys",
    id="api_keys_create",
    summary="Create an API key (an epistula extra: the real API creates keys in the Console)",
    request=APIKeyCreateParams,
    response=NewAPIKey,
    errors=(404,),
)
async def create_api_key(request: Request) -> Response:
    admin = await authenticate_admin(request)
    api_version(request)
    params = parse(APIKeyCreateParams, await read_json(request, MAX_ADMIN_BODY))
    keys = _keys(request)
    secret, record = await run_in_threadpool(
        keys.create,
        name=params.name,
        workspace_id=params.workspace_id or DEFAULT_WORKSPACE,
        created_by=(admin.key_id, "api_key"),
    )
    key = api_key_object(record, keys.clock())
    return JSONResponse(NewAPIKey(**key.model_dump(), key=secret).model_dump(mode="json"))
