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

from epistula.api.callers import admin_params, authorized_admin
from epistula.api.operations import PAGING, Api, Param
from epistula.api.paging import cursor, listed
from epistula.api.request import app_state
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
from epistula.storage.common import optional_rfc3339, rfc3339
from epistula.storage.tenancy import ApiKeyRecord

STATUSES = ("active", "inactive", "archived", "expired")

API = Api("admin", auth="admin")
KEY = "/v1/organizations/api_keys/{api_key_id}"


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
        expires_at=optional_rfc3339(record.expires_at),
        partial_key_hint=record.partial_key_hint,
        scope=APIKeyWorkspaceScope(workspace_id=workspace_id),
        workspace_id=None if workspace_id == DEFAULT_WORKSPACE else workspace_id,
    )


def _keys(request: Request) -> KeyStore:
    return app_state(request).keys


@API.get("/v1/organizations/me", "organization_me")
async def get_organization(request: Request) -> OrganizationInfo:
    """The organization of the admin key"""
    await authorized_admin(request)
    settings = app_state(request).settings
    return OrganizationInfo(id=settings.organization_id, name="epistula")


@API.get(
    "/v1/organizations/api_keys",
    "api_keys_list",
    params=(
        *PAGING,
        Param("status", {"type": "string", "enum": list(STATUSES)}, "Filter.", empty_ok=True),
        Param("workspace_id", {"type": "string"}, "Filter.", empty_ok=True),
        Param("created_by_user_id", {"type": "string"}, "Filter.", empty_ok=True),
    ),
)
async def list_api_keys(request: Request) -> Page[APIKey]:
    """List API keys"""
    await authorized_admin(request)
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequestError("status: Input should be 'active', 'inactive', 'archived' or 'expired'")
    keys = _keys(request)
    page = await run_in_threadpool(
        keys.list,
        **cursor(request),
        status=cast(Literal["active", "inactive", "archived", "expired"] | None, status),
        workspace_id=query.get("workspace_id") or None,
        created_by_id=query.get("created_by_user_id") or None,
    )
    now = keys.clock()
    return listed(Page[APIKey], [api_key_object(r, now) for r in page.items], page.has_more)


@API.get(KEY, "api_keys_retrieve")
async def get_api_key(request: Request) -> APIKey:
    """Get an API key"""
    await authorized_admin(request)
    keys = _keys(request)
    record = await run_in_threadpool(keys.get, request.path_params["api_key_id"])
    return api_key_object(record, keys.clock())


@API.post(KEY, "api_keys_update", request=APIKeyUpdateParams)
async def update_api_key(request: Request) -> APIKey:
    """Rename, disable, enable or archive an API key"""
    _, params = await admin_params(request, APIKeyUpdateParams)
    keys = _keys(request)
    record = await run_in_threadpool(
        keys.update, request.path_params["api_key_id"], name=params.name, status=params.status
    )
    return api_key_object(record, keys.clock())


@API.post("/v1/organizations/api_keys", "api_keys_create", request=APIKeyCreateParams, errors=(404,))
async def create_api_key(request: Request) -> NewAPIKey:
    """Create an API key (an epistula extra: the real API creates keys in the Console)"""
    admin, params = await admin_params(request, APIKeyCreateParams)
    keys = _keys(request)
    secret, record = await run_in_threadpool(
        keys.create,
        name=params.name,
        workspace_id=params.workspace_id or DEFAULT_WORKSPACE,
        created_by=(admin.key_id, "api_key"),
    )
    key = api_key_object(record, keys.clock())
    return NewAPIKey(**key.model_dump(), key=secret)
