"""The OpenAPI 3.1 description of epistula's HTTP API, built from the protocol models.

Request and response schemas come from the pydantic wire types (``models_json_schema``),
and the status-to-``error.type`` table from the exception hierarchy, so the description
cannot drift from the code; the operation table below is checked against the app's
routes by a test (every route described, nothing described that is not routed).
Served at ``GET /openapi.json`` and used by the schemathesis fuzz suite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from epistula import __version__
from epistula.accounting.report_models import CostReport, MessagesUsageReport
from epistula.accounting.reports import COST_GROUP_BY, USAGE_GROUP_BY
from epistula.api.legacy.protocol import Completion, CompletionCreateParams
from epistula.api.openai.protocol import ChatCompletion, ChatCompletionCreateParams, OpenAIErrorResponse
from epistula.errors import ApiError
from epistula.generation.validation import API_VERSIONS
from epistula.protocol.batches import DeletedMessageBatch, MessageBatch, MessageBatchCreateParams
from epistula.protocol.errors import ErrorResponse
from epistula.protocol.files import DeletedFile, FileMetadata, FilePage
from epistula.protocol.messages import (
    Message,
    MessageCountTokensParams,
    MessageCreateParams,
    MessageTokensCount,
)
from epistula.protocol.models import ModelInfo, Page
from epistula.protocol.organization import (
    APIKey,
    APIKeyCreateParams,
    APIKeyUpdateParams,
    MemberAddParams,
    MemberRemoveResponse,
    MemberUpdateParams,
    NewAPIKey,
    OrganizationInfo,
    Workspace,
    WorkspaceCreateParams,
    WorkspaceMember,
    WorkspaceUpdateParams,
)

REF = "#/components/schemas/{model}"
Method = Literal["get", "post", "delete"]


@dataclass(frozen=True, slots=True)
class Content:
    """One media type of a request or response body: a wire model, or a raw schema
    for what has no model (multipart uploads, JSONL, file bytes, SSE)."""

    media_type: str = "application/json"
    model: type[BaseModel] | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str
    where: Literal["query", "path", "header"] = "query"
    required: bool = False
    empty_ok: bool = False
    """An empty value (``?before_id=``) counts as absent (OpenAPI ``allowEmptyValue``)."""


@dataclass(frozen=True, slots=True)
class Operation:
    method: Method
    path: str
    operation_id: str
    summary: str
    tag: str
    ok: tuple[Content, ...]
    body: tuple[Content, ...] = ()
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    authenticated: bool = True
    admin: bool = False
    """Needs an Admin API key (an ordinary key gets 403)."""
    error_model: type[BaseModel] | None = None
    """Errors in another API's shape (the OpenAI endpoint), instead of the Anthropic envelope;
    such an operation takes no ``anthropic-version`` header either."""
    description: str = ""


# ---------------------------------------------------------------- the status table


def _error_classes(cls: type[ApiError] = ApiError) -> Iterator[type[ApiError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _error_classes(sub)


def error_types() -> dict[int, str]:
    """``status -> error.type`` as :mod:`epistula.errors` defines it (one type per status)."""
    table: dict[int, str] = {}
    for cls in _error_classes():
        table.setdefault(cls.status, cls.error_type)
    return dict(sorted(table.items()))


# ---------------------------------------------------------------- shared parameters

LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}, "Page size.")
BEFORE_ID = Param("before_id", {"type": "string"}, "Return the page just before this object id.", empty_ok=True)
AFTER_ID = Param("after_id", {"type": "string"}, "Return the page just after this object id.", empty_ok=True)
PAGING = (LIMIT, BEFORE_ID, AFTER_ID)


def _path_param(name: str, description: str) -> Param:
    return Param(name, {"type": "string"}, description, where="path", required=True)


BATCH_ID = _path_param("batch_id", "A batch id (``msgbatch_...``).")
FILE_ID = _path_param("file_id", "A file id (``file_...``).")
API_KEY_ID = _path_param("api_key_id", "An API key id (``apikey_...``).")
WORKSPACE_ID = _path_param("workspace_id", "A workspace id (``wrkspc_...``).")
USER_ID = _path_param("user_id", "A user id (``user_...``).")


def _array(name: str, description: str, values: tuple[str, ...] | None = None) -> Param:
    items: dict[str, Any] = {"type": "string"} if values is None else {"type": "string", "enum": list(values)}
    return Param(f"{name}[]", {"type": "array", "items": items}, description)


STARTING_AT = Param(
    "starting_at", {"type": "string", "format": "date-time"}, "Start of the first bucket (RFC 3339).", required=True
)
ENDING_AT = Param(
    "ending_at", {"type": "string", "format": "date-time"}, "Where counting stops (RFC 3339).", empty_ok=True
)
REPORT_PAGE = Param("page", {"type": "string"}, "The ``next_page`` token of the previous page.", empty_ok=True)
IDS_NOTE = "At most 100 distinct ids (repeats count once)."

AUTHED = (400, 401, 403, 500)
"""Every authenticated operation: a bad ``anthropic-version`` (400), a bad key (401), a key
without access (403), and the catch-all ``api_error`` the real API documents."""
JSON_BODY = (*AUTHED, 413)
GENERATION = (*JSON_BODY, 404, 429, 529)

SSE = Content("text/event-stream", schema={"type": "string", "description": "Server-sent events (``stream: true``)."})
JSONL = Content("application/x-jsonl", schema={"type": "string", "description": "One result object per line."})
BYTES = Content("application/octet-stream", schema={"type": "string", "format": "binary"})
UPLOAD = Content(
    "multipart/form-data",
    schema={
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The file's bytes (part filename kept)."},
            "expires_in_seconds": {
                "anyOf": [
                    {"type": "integer", "minimum": 3600, "maximum": 7_776_000},
                    {"type": "string", "pattern": "^\\s*$", "description": "Blank: the file does not expire."},
                ]
            },
        },
    },
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get", "/", "root", "Liveness probe", "health", (Content(schema={"type": "object"}),), authenticated=False
    ),
    Operation(
        "get",
        "/health",
        "health",
        "Health and served models",
        "health",
        (Content(schema={"type": "object"}),),
        authenticated=False,
    ),
    Operation(
        "get",
        "/openapi.json",
        "openapi",
        "This description",
        "health",
        (Content(schema={"type": "object"}),),
        authenticated=False,
        description="An epistula extra; the real API does not serve one.",
    ),
    Operation(
        "post",
        "/v1/messages",
        "messages_create",
        "Create a message",
        "messages",
        (Content(model=Message), SSE),
        body=(Content(model=MessageCreateParams),),
        errors=GENERATION,
    ),
    Operation(
        "post",
        "/v1/messages/count_tokens",
        "messages_count_tokens",
        "Count the input tokens of a Messages request",
        "messages",
        (Content(model=MessageTokensCount),),
        body=(Content(model=MessageCountTokensParams),),
        errors=(*JSON_BODY, 404),
    ),
    Operation(
        "post",
        "/v1/complete",
        "complete_create",
        "Create a Text Completion (legacy API; the prompt is a Human/Assistant conversation)",
        "completions",
        (Content(model=Completion), SSE),
        body=(Content(model=CompletionCreateParams),),
        errors=GENERATION,
    ),
    Operation(
        "post",
        "/v1/chat/completions",
        "chat_completions_create",
        "Create a chat completion (OpenAI-compatible)",
        "openai",
        (Content(model=ChatCompletion), SSE),
        body=(Content(model=ChatCompletionCreateParams),),
        errors=(400, 401, 403, 404, 413, 429, 500, 529),
        error_model=OpenAIErrorResponse,
        description="For the official OpenAI SDKs: `Authorization: Bearer <key>`, no `anthropic-version`; "
        'errors are OpenAI-shaped (`{"error": {"message", "type", "param", "code"}}`).',
    ),
    Operation(
        "get",
        "/v1/models",
        "models_list",
        "List models",
        "models",
        (Content(model=Page[ModelInfo]),),
        params=PAGING,
        errors=AUTHED,
    ),
    Operation(
        "get",
        "/v1/models/{model_id}",
        "models_retrieve",
        "Get a model (aliases resolve to the canonical id)",
        "models",
        (Content(model=ModelInfo),),
        params=(_path_param("model_id", "A model id or alias."),),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "post",
        "/v1/messages/batches",
        "batches_create",
        "Create a message batch",
        "batches",
        (Content(model=MessageBatch),),
        body=(Content(model=MessageBatchCreateParams),),
        errors=JSON_BODY,
    ),
    Operation(
        "get",
        "/v1/messages/batches",
        "batches_list",
        "List message batches, newest first",
        "batches",
        (Content(model=Page[MessageBatch]),),
        params=PAGING,
        errors=AUTHED,
    ),
    Operation(
        "get",
        "/v1/messages/batches/{batch_id}",
        "batches_retrieve",
        "Get a message batch",
        "batches",
        (Content(model=MessageBatch),),
        params=(BATCH_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "delete",
        "/v1/messages/batches/{batch_id}",
        "batches_delete",
        "Delete an ended message batch",
        "batches",
        (Content(model=DeletedMessageBatch),),
        params=(BATCH_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "post",
        "/v1/messages/batches/{batch_id}/cancel",
        "batches_cancel",
        "Cancel a message batch",
        "batches",
        (Content(model=MessageBatch),),
        params=(BATCH_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "get",
        "/v1/messages/batches/{batch_id}/results",
        "batches_results",
        "Stream the results of an ended batch (JSONL)",
        "batches",
        (JSONL,),
        params=(BATCH_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "post",
        "/v1/files",
        "files_upload",
        "Upload a file",
        "files",
        (Content(model=FileMetadata),),
        body=(UPLOAD,),
        errors=JSON_BODY,
    ),
    Operation(
        "get",
        "/v1/files",
        "files_list",
        "List files",
        "files",
        (Content(model=FilePage),),
        params=(
            *PAGING,
            Param("page", {"type": "string"}, "The opaque ``next_page`` cursor of the previous page.", empty_ok=True),
            Param(
                "ids[]",
                {"type": "array", "items": {"type": "string"}},
                "Only these files (not combined with ``page`` or ``limit``). " + IDS_NOTE,
            ),
        ),
        errors=AUTHED,
    ),
    Operation(
        "get",
        "/v1/files/{file_id}",
        "files_retrieve",
        "Get a file's metadata",
        "files",
        (Content(model=FileMetadata),),
        params=(FILE_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "delete",
        "/v1/files/{file_id}",
        "files_delete",
        "Delete a file",
        "files",
        (Content(model=DeletedFile),),
        params=(FILE_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "get",
        "/v1/files/{file_id}/content",
        "files_content",
        "Download a file's bytes (only downloadable files)",
        "files",
        (BYTES,),
        params=(FILE_ID,),
        errors=(*AUTHED, 404),
    ),
    Operation(
        "get",
        "/metrics",
        "metrics",
        "Prometheus metrics",
        "health",
        (
            Content("text/plain", schema={"type": "string"}),
            Content("application/openmetrics-text", schema={"type": "string"}),
        ),
        authenticated=False,
        description="An epistula extra (when ``metrics_enabled``); the Prometheus text format, or OpenMetrics "
        "when the scraper asks for it.",
    ),
    Operation(
        "get",
        "/v1/organizations/me",
        "organization_me",
        "The organization of the admin key",
        "admin",
        (Content(model=OrganizationInfo),),
        errors=AUTHED,
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/api_keys",
        "api_keys_list",
        "List API keys",
        "admin",
        (Content(model=Page[APIKey]),),
        params=(
            *PAGING,
            Param(
                "status",
                {"type": "string", "enum": ["active", "inactive", "archived", "expired"]},
                "Filter.",
                empty_ok=True,
            ),
            Param("workspace_id", {"type": "string"}, "Filter.", empty_ok=True),
            Param("created_by_user_id", {"type": "string"}, "Filter.", empty_ok=True),
        ),
        errors=AUTHED,
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/api_keys",
        "api_keys_create",
        "Create an API key (an epistula extra: the real API creates keys in the Console)",
        "admin",
        (Content(model=NewAPIKey),),
        body=(Content(model=APIKeyCreateParams),),
        errors=(*JSON_BODY, 404),
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/api_keys/{api_key_id}",
        "api_keys_retrieve",
        "Get an API key",
        "admin",
        (Content(model=APIKey),),
        params=(API_KEY_ID,),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/api_keys/{api_key_id}",
        "api_keys_update",
        "Rename, disable, enable or archive an API key",
        "admin",
        (Content(model=APIKey),),
        params=(API_KEY_ID,),
        body=(Content(model=APIKeyUpdateParams),),
        errors=(*JSON_BODY, 404),
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/workspaces",
        "workspaces_list",
        "List workspaces",
        "admin",
        (Content(model=Page[Workspace]),),
        params=(
            *PAGING,
            Param("include_archived", {"type": "boolean"}, "Also archived workspaces.", empty_ok=True),
            Param("include_default", {"type": "boolean"}, "Also the default workspace.", empty_ok=True),
            Param("ids[]", {"type": "array", "items": {"type": "string"}}, "Only these workspaces. " + IDS_NOTE),
        ),
        errors=AUTHED,
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/workspaces",
        "workspaces_create",
        "Create a workspace",
        "admin",
        (Content(model=Workspace),),
        body=(Content(model=WorkspaceCreateParams),),
        errors=JSON_BODY,
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/workspaces/{workspace_id}",
        "workspaces_retrieve",
        "Get a workspace",
        "admin",
        (Content(model=Workspace),),
        params=(WORKSPACE_ID,),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/workspaces/{workspace_id}",
        "workspaces_update",
        "Update a workspace",
        "admin",
        (Content(model=Workspace),),
        params=(WORKSPACE_ID,),
        body=(Content(model=WorkspaceUpdateParams),),
        errors=(*JSON_BODY, 404),
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/workspaces/{workspace_id}/archive",
        "workspaces_archive",
        "Archive a workspace",
        "admin",
        (Content(model=Workspace),),
        params=(WORKSPACE_ID,),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/workspaces/{workspace_id}/members",
        "workspace_members_list",
        "List a workspace's members",
        "admin",
        (Content(model=Page[WorkspaceMember]),),
        params=(WORKSPACE_ID, *PAGING),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/workspaces/{workspace_id}/members",
        "workspace_members_create",
        "Add a member to a workspace",
        "admin",
        (Content(model=WorkspaceMember),),
        params=(WORKSPACE_ID,),
        body=(Content(model=MemberAddParams),),
        errors=(*JSON_BODY, 404),
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/workspaces/{workspace_id}/members/{user_id}",
        "workspace_members_retrieve",
        "Get a workspace member",
        "admin",
        (Content(model=WorkspaceMember),),
        params=(WORKSPACE_ID, USER_ID),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "post",
        "/v1/organizations/workspaces/{workspace_id}/members/{user_id}",
        "workspace_members_update",
        "Change a member's workspace role",
        "admin",
        (Content(model=WorkspaceMember),),
        params=(WORKSPACE_ID, USER_ID),
        body=(Content(model=MemberUpdateParams),),
        errors=(*JSON_BODY, 404),
        admin=True,
    ),
    Operation(
        "delete",
        "/v1/organizations/workspaces/{workspace_id}/members/{user_id}",
        "workspace_members_delete",
        "Remove a member from a workspace",
        "admin",
        (Content(model=MemberRemoveResponse),),
        params=(WORKSPACE_ID, USER_ID),
        errors=(*AUTHED, 404),
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/usage_report/messages",
        "usage_report_messages",
        "Messages usage report: token sums per time bucket, optionally grouped",
        "admin",
        (Content(model=MessagesUsageReport),),
        params=(
            STARTING_AT,
            ENDING_AT,
            Param("bucket_width", {"type": "string", "enum": ["1d", "1h", "1m"]}, "Bucket size (default 1d)."),
            Param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1440},
                "Buckets per page (1d: max 31; 1h: max 168; 1m: max 1440).",
            ),
            REPORT_PAGE,
            _array("api_key_ids", "Only these API keys."),
            _array("workspace_ids", "Only these workspaces."),
            _array("models", "Only these models (aliases allowed)."),
            _array("service_tiers", "Only these service tiers."),
            _array("context_window", "Only these context-window ranges."),
            _array("inference_geos", "Only these inference geos."),
            _array("speeds", "Only these speeds."),
            _array("account_ids", "Only these accounts."),
            _array("group_by", "Group the results by these dimensions.", USAGE_GROUP_BY),
        ),
        errors=AUTHED,
        admin=True,
    ),
    Operation(
        "get",
        "/v1/organizations/cost_report",
        "cost_report",
        "Cost report: amounts in cents per day, optionally grouped",
        "admin",
        (Content(model=CostReport),),
        params=(
            STARTING_AT,
            ENDING_AT,
            Param("bucket_width", {"type": "string", "enum": ["1d"]}, "Only daily buckets."),
            Param("limit", {"type": "integer", "minimum": 1, "maximum": 31}, "Buckets per page (default 7)."),
            REPORT_PAGE,
            _array("group_by", "Group the results by these dimensions.", COST_GROUP_BY),
        ),
        errors=AUTHED,
        admin=True,
    ),
)


# ---------------------------------------------------------------- building the document


def _models(operations: tuple[Operation, ...]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for op in operations:
        for content in op.body:
            if content.model is not None:
                seen[(content.model, "validation")] = None
        for content in op.ok:
            if content.model is not None:
                seen[(content.model, "serialization")] = None
        if op.error_model is not None:
            seen[(op.error_model, "serialization")] = None
    return list(seen)


@dataclass(slots=True)
class _Builder:
    refs: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]

    def schema(self, content: Content, mode: JsonSchemaMode) -> dict[str, Any]:
        if content.model is not None:
            return self.refs[(content.model, mode)]
        return dict(content.schema or {})

    def media(self, contents: tuple[Content, ...], mode: JsonSchemaMode) -> dict[str, Any]:
        return {c.media_type: {"schema": self.schema(c, mode)} for c in contents}

    def operation(self, op: Operation) -> dict[str, Any]:
        params: list[dict[str, Any]] = []
        if op.authenticated and op.error_model is None:
            params.append({"$ref": "#/components/parameters/AnthropicVersion"})
            params.append({"$ref": "#/components/parameters/AnthropicBeta"})
        for p in op.params:
            spec: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema}
            spec["description"] = p.description
            if p.schema.get("type") == "array":
                spec.update(style="form", explode=True)
            if p.empty_ok:
                spec["allowEmptyValue"] = True
            params.append(spec)
        responses: dict[str, Any] = {
            "200": {
                "description": "OK",
                "headers": {"request-id": {"$ref": "#/components/headers/RequestId"}},
                "content": self.media(op.ok, "serialization"),
            }
        }
        types = error_types()
        for status in sorted(op.errors):
            if op.error_model is None:
                responses[str(status)] = {"$ref": f"#/components/responses/{types[status]}_{status}"}
            else:
                responses[str(status)] = {
                    "description": f"`{types[status]}`",
                    "content": self.media((Content(model=op.error_model),), "serialization"),
                }
        out: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": params,
            "responses": responses,
        }
        if op.description:
            out["description"] = op.description
        if op.body:
            out["requestBody"] = {"required": True, "content": self.media(op.body, "validation")}
        if not op.authenticated:
            out["security"] = []
        elif op.admin:
            out["security"] = [{"AdminKey": []}, {"AdminBearer": []}]
        return out


def _error_response(status: int, error_type: str) -> dict[str, Any]:
    """The envelope, with ``error.type`` pinned to the one this status carries."""
    return {
        "description": f"`{error_type}`",
        "headers": {"request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        {"$ref": REF.format(model="ErrorResponse")},
                        {
                            "type": "object",
                            "required": ["type", "error", "request_id"],
                            "properties": {
                                "error": {
                                    "type": "object",
                                    "required": ["type", "message"],
                                    "properties": {"type": {"const": error_type}},
                                },
                                "request_id": {"type": "string", "pattern": "^req_"},
                            },
                        },
                    ]
                }
            }
        },
    }


def build_openapi(operations: tuple[Operation, ...] = OPERATIONS) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (a fresh dict: callers may change it)."""
    keys = _models(operations)
    refs, defs = models_json_schema(keys, ref_template=REF)
    builder = _Builder(refs={(model, mode): ref for (model, mode), ref in refs.items() if issubclass(model, BaseModel)})
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = builder.operation(op)
    used = sorted({s for op in operations for s in op.errors})
    types = error_types()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "epistula",
            "version": __version__,
            "description": "A self-hosted implementation of the Anthropic Claude API. Every non-2xx response "
            "is the Anthropic error envelope; the status fixes `error.type`.",
        },
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in operations)],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
                "AdminKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An Admin API key."},
                "AdminBearer": {"type": "http", "scheme": "bearer", "description": "An Admin API key."},
            },
            "parameters": {
                "AnthropicVersion": {
                    "name": "anthropic-version",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "enum": list(API_VERSIONS)},
                },
                "AnthropicBeta": {
                    "name": "anthropic-beta",
                    "in": "header",
                    "required": False,
                    "description": "Comma-separated beta flags; accepted and ignored.",
                    "schema": {"type": "string"},
                },
            },
            "headers": {
                "RequestId": {"required": True, "schema": {"type": "string", "pattern": "^req_"}},
            },
            "responses": {f"{types[s]}_{s}": _error_response(s, types[s]) for s in used},
        },
    }


@functools.cache
def cached_openapi() -> dict[str, Any]:
    """The description for ``GET /openapi.json`` (built once per process; do not mutate)."""
    return build_openapi()
