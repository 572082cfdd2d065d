"""Admin API wire types for the organisation, API keys, workspaces and workspace members,
named like the SDK's (``anthropic.types.organization``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._base import RequestModel, ResponseModel

WorkspaceRole = Literal[
    "workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin", "workspace_billing"
]
NoBillingWorkspaceRole = Literal[
    "workspace_user", "workspace_developer", "workspace_restricted_developer", "workspace_admin"
]


class OrganizationInfo(ResponseModel):
    id: str
    name: str
    type: Literal["organization"] = "organization"


# ---------------------------------------------------------------- API keys


class APIKeyCreatedBy(ResponseModel):
    id: str
    type: str
    """``user`` or ``service_account`` on the real API; here ``api_key`` when an admin key
    created the key through the Admin API (keys made by the CLI have ``created_by: null``)."""


class APIKeyWorkspaceScope(ResponseModel):
    type: Literal["workspace"] = "workspace"
    workspace_id: str


class APIKey(ResponseModel):
    id: str
    type: Literal["api_key"] = "api_key"
    name: str
    status: Literal["active", "inactive", "archived", "expired"]
    created_at: str
    created_by: APIKeyCreatedBy | None = None
    expires_at: str | None = None
    partial_key_hint: str | None = None
    scope: APIKeyWorkspaceScope
    principal: None = None
    workspace_id: str | None = None
    """The older API's flat field: null for the default workspace."""


class NewAPIKey(APIKey):
    """Epistula's ``POST /v1/organizations/api_keys`` (the real API creates keys only in the
    Console): the key object plus the secret, shown this once."""

    key: str


class APIKeyCreateParams(RequestModel):
    name: str = Field(min_length=1, max_length=500)
    workspace_id: str | None = None
    """Default: the default workspace."""


class APIKeyUpdateParams(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=500)
    status: Literal["active", "inactive", "archived"] | None = None


# ---------------------------------------------------------------- workspaces


class DataResidency(ResponseModel):
    workspace_geo: Literal["us"] = "us"
    allowed_inference_geos: list[str] | Literal["unrestricted"] = "unrestricted"
    default_inference_geo: Literal["global", "us"] = "global"


class DataResidencyCreateConfigParam(RequestModel):
    workspace_geo: Literal["us"] | None = None
    allowed_inference_geos: list[Literal["global", "us"]] | Literal["unrestricted"] | None = None
    default_inference_geo: Literal["global", "us"] | None = None


class DataResidencyUpdateConfigParam(RequestModel):
    allowed_inference_geos: list[Literal["global", "us"]] | Literal["unrestricted"] | None = None
    default_inference_geo: Literal["global", "us"] | None = None


class Workspace(ResponseModel):
    id: str
    type: Literal["workspace"] = "workspace"
    name: str
    display_color: str
    created_at: str
    archived_at: str | None = None
    data_residency: DataResidency = Field(default_factory=DataResidency)
    tags: dict[str, str] = Field(default_factory=dict)
    compartment_id: str
    external_key_id: str | None = None
    user_profile_id: str | None = None


class WorkspaceCreateParams(RequestModel):
    name: str
    display_color: str | None = None
    tags: dict[str, str] | None = None
    data_residency: DataResidencyCreateConfigParam | None = None
    external_key_id: str | None = None
    """Customer-managed encryption keys are not supported here: only null is accepted."""
    user_profile_id: str | None = None
    """User profiles are not supported here: only null is accepted."""


class WorkspaceUpdateParams(RequestModel):
    name: str | None = None
    display_color: str | None = None
    tags: dict[str, str | None] | None = None
    data_residency: DataResidencyUpdateConfigParam | None = None
    external_key_id: str | None = None
    user_profile_id: str | None = None


# ---------------------------------------------------------------- members


class WorkspaceMember(ResponseModel):
    type: Literal["workspace_member"] = "workspace_member"
    user_id: str
    workspace_id: str
    workspace_role: WorkspaceRole


class MemberRemoveResponse(ResponseModel):
    type: Literal["workspace_member_deleted"] = "workspace_member_deleted"
    user_id: str
    workspace_id: str


class MemberAddParams(RequestModel):
    user_id: str = Field(min_length=1)
    workspace_role: NoBillingWorkspaceRole


class MemberUpdateParams(RequestModel):
    workspace_role: WorkspaceRole
