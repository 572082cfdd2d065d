"""The Prometheus registry behind ``GET /metrics``.

``prometheus_client`` rather than hand-written text: it gets the exposition details right
(label escaping, cumulative histogram buckets, ``+Inf``, ``_sum``/``_count``, OpenMetrics
negotiation), it is small and dependency-free, and its parser lets the tests check the
output against the format instead of against our own idea of it. Each app gets its own
registry (never the library's global one), so several apps can live in one process.

Series are fed from three places: the access middleware (every HTTP request), the gate
hook (messages, tokens, latencies) and, at scrape time, each engine's ``stats()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from epistula.engines.base import Engine, EngineStats

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

disable_created_metrics()  # type: ignore[no-untyped-call]
"""No ``*_created`` series: they double every counter and histogram for a start time
``process_start_time_seconds`` already gives (the switch is process-wide; epistula owns the process)."""

METHODS = frozenset({"GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH"})
"""HTTP methods that get a label value of their own; any other is ``OTHER``."""


def method_label(method: str) -> str:
    """The client's method as a bounded label value: a client choosing ``ZZ1``, ``ZZ2``...
    must not create one series each (they are never freed)."""
    return method if method in METHODS else "OTHER"


def status_label(status: int) -> str:
    """A status code label (``0`` when no response was sent)."""
    return str(status) if 100 <= status <= 599 else "0"


EngineSource = Callable[[], Sequence[tuple[str, Engine]]]
"""(served model id, engine) pairs, read at scrape time (the catalog exists only after startup)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "epistula_requests",
            "HTTP requests by route, status and model.",
            ["method", "route", "status", "model"],
            registry=r,
        )
        self.request_duration = Histogram(
            "epistula_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.messages = Counter(
            "epistula_messages", "Generations that passed the gate, by outcome.", ["model", "outcome"], registry=r
        )
        self.input_tokens = Counter(
            "epistula_input_tokens", "Billed input tokens (not read from the prompt cache).", ["model"], registry=r
        )
        self.output_tokens = Counter("epistula_output_tokens", "Generated output tokens.", ["model"], registry=r)
        self.cache_read_tokens = Counter(
            "epistula_cache_read_input_tokens", "Input tokens read from the prompt cache.", ["model"], registry=r
        )
        self.cache_creation_tokens = Counter(
            "epistula_cache_creation_input_tokens", "Input tokens written to the prompt cache.", ["model"], registry=r
        )
        self.time_to_first_token = Histogram(
            "epistula_time_to_first_token_seconds",
            "From admission to the first content delta.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.time_per_output_token = Histogram(
            "epistula_time_per_output_token_seconds",
            "Mean time between output tokens after the first, one observation per message.",
            ["model"],
            buckets=PER_TOKEN_BUCKETS,
            registry=r,
        )
        ProcessCollector(registry=r)
        self._engines = EngineCollector()
        r.register(self._engines)

    def watch_engines(self, source: EngineSource) -> None:
        self._engines.source = source


class EngineCollector:
    """Engine gauges and counters, read from ``Engine.stats()`` when scraped."""

    def __init__(self) -> None:
        self.source: EngineSource | None = None

    def describe(self) -> list[Metric]:
        return []  # dynamic: never checked for name clashes at registration

    def collect(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily("epistula_queue_depth", "Requests waiting for a sequence slot.", labels=["model"])
        active = GaugeMetricFamily("epistula_active_sequences", "Sequences being generated.", labels=["model"])
        reused = CounterMetricFamily(
            "epistula_prompt_tokens_reused", "Prompt tokens whose KV state was reused.", labels=["model"]
        )
        prefilled = CounterMetricFamily(
            "epistula_prompt_tokens_prefilled", "Prompt tokens computed (prefilled).", labels=["model"]
        )
        ratio = GaugeMetricFamily(
            "epistula_prompt_cache_hit_ratio",
            "Reused / (reused + prefilled) prompt tokens since start (0 before any prompt).",
            labels=["model"],
        )
        routed = CounterMetricFamily(
            "epistula_upstream_routed_requests",
            "Requests the remote engine routed among its upstreams.",
            labels=["model"],
        )
        route_hits = GaugeMetricFamily(
            "epistula_upstream_route_hit_ratio",
            "Routed requests sent to the upstream holding their prompt's prefix, over all routed (0 before any).",
            labels=["model"],
        )
        for model, engine in self.source() if self.source else ():
            try:
                stats: EngineStats = engine.stats()
            except Exception:  # a scrape must not fail because one engine is shutting down
                continue
            queue.add_metric([model], stats.queue_depth)
            active.add_metric([model], stats.active_sequences)
            reused.add_metric([model], stats.prompt_tokens_reused)
            prefilled.add_metric([model], stats.prompt_tokens_prefilled)
            total = stats.prompt_tokens_reused + stats.prompt_tokens_prefilled
            ratio.add_metric([model], stats.prompt_tokens_reused / total if total else 0.0)
            if stats.routed_requests:
                routed.add_metric([model], stats.routed_requests)
                route_hits.add_metric([model], stats.routed_prefix_hits / stats.routed_requests)
        yield from (queue, active, reused, prefilled, ratio, routed, route_hits)
