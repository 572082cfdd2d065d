"""Every operation epistula serves, and ``GET /openapi.json`` describing them.

The routes :mod:`epistula.http.app` mounts and the OpenAPI document are both built from
the declarations in the API modules listed here (:mod:`.operations`). The document is an
epistula extra, served without authentication: it holds nothing but what the public wire
types already say.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from epistula.api import health, metrics
from epistula.api.admin import keys, usage, workspaces
from epistula.api.anthropic import batches, files, messages, models, skills
from epistula.api.legacy import routes as legacy
from epistula.api.openai import routes as openai
from epistula.api.openapi import build_openapi
from epistula.api.operations import OBJECT, Api, Operation
from epistula.config import Settings

API = Api("health", auth="none")


@API.get("/openapi.json", "openapi", response=OBJECT, description="An epistula extra; the real API does not serve one.")
async def openapi_json(request: Request) -> Response:
    """This description"""
    return JSONResponse(document())


APIS: tuple[Api, ...] = (
    health.API,
    API,
    messages.API,
    legacy.API,
    openai.API,
    models.API,
    batches.API,
    files.API,
    skills.API,
    metrics.API,
    keys.API,
    workspaces.API,
    usage.API,
)
"""In the order the document lists them (the router matches paths, never by order here)."""


def operations() -> tuple[Operation, ...]:
    return tuple(op for api in APIS for op in api.operations)


def routes(settings: Settings) -> list[Route]:
    """The routes of every API module these settings turn on."""
    return [route for api in APIS for route in api.routes(settings)]


@functools.cache
def document() -> dict[str, Any]:
    """The description for ``GET /openapi.json`` (built once per process; do not mutate)."""
    return build_openapi(operations())
