"""The Admin API usage and cost reports:

* ``GET /v1/organizations/usage_report/messages``
* ``GET /v1/organizations/cost_report``

Array query parameters are accepted as ``name[]=a&name[]=b`` (what the docs show) and as
repeated ``name=a&name=b``. Both endpoints need an Admin API key.
"""

from __future__ import annotations

import time

from starlette.datastructures import QueryParams
from starlette.requests import Request

from epistula.accounting import Accounting
from epistula.accounting.report_models import CostReport, MessagesUsageReport
from epistula.accounting.reports import (
    BUCKET_SECONDS,
    COST_GROUP_BY,
    COST_LIMITS,
    USAGE_GROUP_BY,
    USAGE_LIMITS,
    Window,
    cost_report,
    parse_time,
    plan_window,
    usage_report,
)
from epistula.api.callers import authorized_admin
from epistula.api.operations import Api, Param, array_param
from epistula.api.request import app_state
from epistula.errors import InternalServerError, InvalidRequestError, NotFoundError
from epistula.models.catalog import Catalog

USAGE_FILTERS = {
    "api_key_ids": "api_key_id",
    "workspace_ids": "workspace_id",
    "models": "model",
    "service_tiers": "service_tier",
    "context_window": "context_window",
    "inference_geos": "inference_geo",
    "speeds": "speed",
    "account_ids": "account_id",
}
"""Query parameter -> the dimension it restricts."""

API = Api("admin", auth="admin")
STARTING_AT = Param(
    "starting_at", {"type": "string", "format": "date-time"}, "Start of the first bucket (RFC 3339).", required=True
)
ENDING_AT = Param(
    "ending_at", {"type": "string", "format": "date-time"}, "Where counting stops (RFC 3339).", empty_ok=True
)
REPORT_PAGE = Param("page", {"type": "string"}, "The ``next_page`` token of the previous page.", empty_ok=True)


def _values(query: QueryParams, name: str) -> list[str] | None:
    """An array parameter's values, or None when it was not sent."""
    if f"{name}[]" not in query and name not in query:
        return None
    return [*query.getlist(f"{name}[]"), *query.getlist(name)]


def _choices(query: QueryParams, name: str, allowed: tuple[str, ...]) -> list[str]:
    values = _values(query, name) or []
    for i, value in enumerate(values):
        if value not in allowed:
            options = ", ".join(f"'{a}'" for a in allowed)
            raise InvalidRequestError(f"{name}.{i}: Input should be {options}")
    return values


def _limit(query: QueryParams, default: int, maximum: int) -> int:
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequestError("limit: Input should be a valid integer") from None
    if not 1 <= limit <= maximum:
        raise InvalidRequestError(
            f"limit: Input should be greater than or equal to 1 and less than or equal to {maximum}"
        )
    return limit


def _window(query: QueryParams, width_name: str, limit: int) -> Window:
    starting_at = query.get("starting_at")
    if not starting_at:
        raise InvalidRequestError("starting_at: Field required")
    ending_at = query.get("ending_at")
    return plan_window(
        starting_at=parse_time(starting_at, "starting_at"),
        ending_at=parse_time(ending_at, "ending_at") if ending_at else None,
        width=BUCKET_SECONDS[width_name],
        limit=limit,
        page=query.get("page") or None,
        now=time.time(),
    )


def _accounting(request: Request) -> Accounting:
    accounting = app_state(request).accounting
    if accounting is None:
        raise InternalServerError("usage accounting is not running")
    return accounting


@API.get(
    "/v1/organizations/usage_report/messages",
    "usage_report_messages",
    params=(
        STARTING_AT,
        ENDING_AT,
        Param("bucket_width", {"type": "string", "enum": list(USAGE_LIMITS)}, "Bucket size (default 1d)."),
        Param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": max(m for _, m in USAGE_LIMITS.values())},
            "Buckets per page (1d: max 31; 1h: max 168; 1m: max 1440).",
        ),
        REPORT_PAGE,
        array_param("api_key_ids", "Only these API keys."),
        array_param("workspace_ids", "Only these workspaces."),
        array_param("models", "Only these models (aliases allowed)."),
        array_param("service_tiers", "Only these service tiers."),
        array_param("context_window", "Only these context-window ranges."),
        array_param("inference_geos", "Only these inference geos."),
        array_param("speeds", "Only these speeds."),
        array_param("account_ids", "Only these accounts."),
        array_param("group_by", "Group the results by these dimensions.", USAGE_GROUP_BY),
    ),
)
async def messages_usage_report(request: Request) -> MessagesUsageReport:
    """Messages usage report: token sums per time bucket, optionally grouped"""
    await authorized_admin(request)
    state = app_state(request)
    accounting = _accounting(request)
    query = request.query_params
    width_name = query.get("bucket_width", "1d")
    if width_name not in USAGE_LIMITS:
        raise InvalidRequestError("bucket_width: Input should be '1d', '1h' or '1m'")
    default, maximum = USAGE_LIMITS[width_name]
    limit = _limit(query, default, maximum)
    group_by = _choices(query, "group_by", USAGE_GROUP_BY)
    filters: dict[str, list[str]] = {}
    for param, dimension in USAGE_FILTERS.items():
        values = _values(query, param)
        if values is None:
            continue
        if dimension == "model":  # aliases name the model they serve
            values = [*values, *(_served(state.catalog, v) for v in values)]
        filters[dimension] = values
    window = _window(query, width_name, limit)
    return await usage_report(accounting, window, group_by=group_by, filters=filters)


@API.get(
    "/v1/organizations/cost_report",
    "cost_report",
    params=(
        STARTING_AT,
        ENDING_AT,
        Param("bucket_width", {"type": "string", "enum": ["1d"]}, "Only daily buckets."),
        Param("limit", {"type": "integer", "minimum": 1, "maximum": COST_LIMITS[1]}, "Buckets per page (default 7)."),
        REPORT_PAGE,
        array_param("group_by", "Group the results by these dimensions.", COST_GROUP_BY),
    ),
)
async def get_cost_report(request: Request) -> CostReport:
    """Cost report: amounts in cents per day, optionally grouped"""
    await authorized_admin(request)
    accounting = _accounting(request)
    query = request.query_params
    if query.get("bucket_width", "1d") != "1d":
        raise InvalidRequestError("bucket_width: Input should be '1d'")
    limit = _limit(query, *COST_LIMITS)
    group_by = _choices(query, "group_by", COST_GROUP_BY)
    window = _window(query, "1d", limit)
    return await cost_report(accounting, window, group_by=group_by)


def _served(catalog: Catalog, name: str) -> str:
    try:
        return catalog.resolve(name).id
    except NotFoundError:
        return name
