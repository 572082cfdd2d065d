"""``GET /metrics``: the Prometheus exposition (OpenMetrics when the scraper asks for it).

No API key: scrapers rarely hold one, and the page carries counts, never content or
credentials. Turn it off with ``metrics_enabled = false``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from epistula.observability.metrics import Metrics


def endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def scrape(request: Request) -> Response:
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), media_type=content_type)

    return scrape
