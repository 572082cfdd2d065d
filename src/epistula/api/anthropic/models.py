"""``GET /v1/models`` and ``GET /v1/models/{model_id}``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.operations import PAGING, Api
from epistula.api.request import api_version, app_state, authenticate, query_limit
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
    return Page[ModelInfo](
        data=page,
        has_more=has_more,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
    )


@API.operation("get", "/v1/models", id="models_list", summary="List models", response=Page[ModelInfo], params=PAGING)
async def list_models(request: Request) -> Response:
    await authenticate(request)
    api_version(request)
    page = paginate(app_state(request).catalog.infos(), request)
    return JSONResponse(page.model_dump(mode="json"))


@API.operation(
    "get",
    "/v1/models/{model_id:path}",
    id="models_retrieve",
    summary="Get a model (aliases resolve to the canonical id)",
    response=ModelInfo,
)
async def get_model(request: Request) -> Response:
    await authenticate(request)
    api_version(request)
    info = app_state(request).catalog.info(request.path_params["model_id"])
    return JSONResponse(info.model_dump(mode="json"))
