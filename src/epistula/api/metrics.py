"""``GET /metrics``: the Prometheus exposition (OpenMetrics when the scraper asks for it).

No API key: scrapers rarely hold one, and the page carries counts, never content or
credentials. Turn it off with ``metrics_enabled = false``.
"""

from __future__ import annotations

from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from epistula.api.operations import Api, Content
from epistula.api.request import app_state

API = Api("health", auth="none", enabled=lambda settings: settings.metrics_enabled)


@API.get(
    "/metrics",
    "metrics",
    response=(
        Content("text/plain", schema={"type": "string"}),
        Content("application/openmetrics-text", schema={"type": "string"}),
    ),
    description="An epistula extra (when ``metrics_enabled``); the Prometheus text format, or OpenMetrics "
    "when the scraper asks for it.",
)
async def scrape(request: Request) -> Response:
    """Prometheus metrics"""
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(app_state(request).metrics.registry), media_type=content_type)
