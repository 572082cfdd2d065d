"""``HEAD /`` and ``GET /health``: no authentication."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def root(request: Request) -> Response:
    return JSONResponse({"name": "epistula", "status": "ok"})


async def health(request: Request) -> Response:
    state = request.app.state.epistula
    return JSONResponse({"status": "ok", "models": [m.id for m in state.catalog.models]})
