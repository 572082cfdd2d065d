"""``GET /`` (and ``HEAD``) and ``GET /health``: no authentication."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from epistula.api.operations import OBJECT, Api

API = Api("health", auth="none")


@API.get("/", "root", response=OBJECT)
async def root(request: Request) -> Response:
    """Liveness probe"""
    return JSONResponse({"name": "epistula", "status": "ok"})


@API.get("/health", "health", response=OBJECT)
async def health(request: Request) -> Response:
    """Health and served models"""
    state = request.app.state.epistula
    return JSONResponse({"status": "ok", "models": [m.id for m in state.catalog.models]})
