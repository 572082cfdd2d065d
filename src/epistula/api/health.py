"""``GET /`` (and ``HEAD``) and ``GET /health``: no authentication."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.operations import OBJECT, Api

API = Api("health", auth="none")


@API.operation("get", "/", id="root", summary="Liveness probe", response=OBJECT)
async def root(request: Request) -> Response:
    return JSONResponse({"name": "epistula", "status": "ok"})


@API.operation("get", "/health", id="health", summary="Health and served models", response=OBJECT)
async def health(request: Request) -> Response:
    state = request.app.state.epistula
    return JSONResponse({"status": "ok", "models": [m.id for m in state.catalog.models]})
