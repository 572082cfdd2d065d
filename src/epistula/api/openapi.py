"""``GET /openapi.json``: the description of this API (an epistula extra, no authentication:
it holds nothing but what the public wire types already say)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.openapi_table import cached_openapi


async def openapi_json(request: Request) -> Response:
    return JSONResponse(cached_openapi())
