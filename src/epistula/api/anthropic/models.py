"""``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from starlette.requests import Request

from epistula.api.callers import authorized
from epistula.api.operations import PAGING, Api
from epistula.api.paging import listed
from epistula.api.request import app_state, query_limit
from epistula.protocol.models import ModelInfo, Page

API = Api("models")


def paginate(items: list[ModelInfo], request: Request) -> Page[ModelInfo]:
    limit = query_limit(request)
    ids = [m.id for m in items]
    before, after = request.query_params.get("before_id"), request.query_params.get("after_id")
    if after:
        start = ids.index(after) + 1 if after in ids else len(ids)
        page, has_more = items[start : start + limit], start + limit < len(items)
    elif before:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        page, has_more = items[start:end], start > 0
    else:
        page, has_more = items[:limit], limit < len(items)
    return listed(Page[ModelInfo], page, has_more)


@API.get("/v1/models", "models_list", params=PAGING)
async def list_models(request: Request) -> Page[ModelInfo]:
    """List models"""
    await authorized(request)
    return paginate(app_state(request).catalog.infos(), request)


@API.get("/v1/models/{model_id:path}", "models_retrieve")
async def get_model(request: Request) -> ModelInfo:
    """Get a model (aliases resolve to the canonical id)"""
    await authorized(request)
    return app_state(request).catalog.info(request.path_params["model_id"])
