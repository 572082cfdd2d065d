"""The Admin API usage and cost reports, computed from the usage store.

Time buckets are UTC minutes, hours or days (``starting_at`` snaps down to one); a page
holds at most ``limit`` buckets, and ``next_page`` is ``page_`` + base64 of the next
bucket's start (the real API's token format). Every bucket of a page is listed, empty
ones with ``results: []``. Costs are exact decimals in cents: the sum of a report's
amounts equals the sum of the per-request costs of the same usage.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from epistula.errors import InvalidRequestError
from epistula.storage.common import rfc3339

from .pricing import EXACT, PriceTable, description, format_cents
from .report_models import (
    CacheCreationUsage,
    CostReport,
    CostReportResult,
    MessagesUsageReport,
    MessagesUsageReportResult,
    R,
    ReportBucket,
)
from .service import Accounting
from .usage_store import GROUP_COLUMNS, UsageGroup, UsageQuery

BUCKET_SECONDS = {"1m": 60, "1h": 3600, "1d": 86400}
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
"""``bucket_width`` -> (default, maximum) buckets per page."""
COST_LIMITS = (7, 31)
CONSTANT_DIMENSIONS: dict[str, str | None] = {
    "inference_geo": "not_available",
    "speed": "standard",
    "account_id": None,
    "service_account_id": None,
}
"""Dimensions the real API has that a self-hosted server has one value for."""
USAGE_GROUP_BY = (*GROUP_COLUMNS, *CONSTANT_DIMENSIONS)
COST_GROUP_BY = ("workspace_id", "description")


def _bucket(start: float, width: float, results: list[R]) -> ReportBucket[R]:
    """One time bucket of a report: ``[start, start + width)`` in whole seconds."""
    end = start + width
    return ReportBucket(starting_at=rfc3339(start, "seconds"), ending_at=rfc3339(end, "seconds"), results=results)


def page_token(ts: float) -> str:
    return "page_" + base64.b64encode(rfc3339(ts, "seconds").encode()).decode()


EARLIEST = 0.0
LATEST = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
"""Times outside this range are refused (bucket arithmetic stays within ``datetime``)."""


def parse_time(value: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ts = moment.timestamp()
    except (ValueError, OverflowError):
        raise InvalidRequestError(f"{name}: Input should be a valid datetime") from None
    if not EARLIEST <= ts <= LATEST:
        raise InvalidRequestError(f"{name}: must be between 1970-01-01 and 9000-01-01")
    return ts


def parse_page_token(token: str) -> float:
    try:
        if not token.startswith("page_"):
            raise ValueError(token)
        text = base64.b64decode(token[len("page_") :], validate=True).decode()
        return parse_time(text, "page")
    except (ValueError, binascii.Error, UnicodeDecodeError, InvalidRequestError):
        raise InvalidRequestError("page: invalid page token") from None


@dataclass(frozen=True, slots=True)
class Window:
    """The buckets of one page, and where counting stops."""

    width: int
    starts: tuple[float, ...]
    end: float
    next_page: str | None

    @property
    def query_end(self) -> float:
        return min(self.end, self.starts[-1] + self.width) if self.starts else self.end


def plan_window(
    *, starting_at: float, ending_at: float | None, width: int, limit: int, page: str | None, now: float
) -> Window:
    """Buckets from ``starting_at`` (snapped down) that start before ``ending_at`` (or
    now); usage is counted up to ``ending_at``."""
    if ending_at is not None and ending_at <= starting_at:
        raise InvalidRequestError("ending_at: must be after starting_at")
    first = float(math.floor(starting_at / width) * width)
    cursor = first
    if page is not None:
        cursor = parse_page_token(page)
        if cursor < first or (cursor - first) % width:
            raise InvalidRequestError("page: invalid page token")
    end = now if ending_at is None else ending_at
    starts: list[float] = []
    t = cursor
    while t < end and len(starts) < limit:
        starts.append(float(t))
        t += width
    return Window(width=width, starts=tuple(starts), end=end, next_page=page_token(t) if t < end else None)


def _by_bucket(groups: Sequence[UsageGroup]) -> dict[float, list[UsageGroup]]:
    out: dict[float, list[UsageGroup]] = {}
    for group in groups:
        out.setdefault(group.bucket_start or 0.0, []).append(group)
    return out


async def usage_report(
    accounting: Accounting,
    window: Window,
    *,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
) -> MessagesUsageReport:
    stored = tuple(g for g in dict.fromkeys(group_by) if g in GROUP_COLUMNS)
    constant = [g for g in dict.fromkeys(group_by) if g in CONSTANT_DIMENSIONS]
    column_filters = {k: v for k, v in filters.items() if k in GROUP_COLUMNS}
    excluded = any(CONSTANT_DIMENSIONS[k] not in v for k, v in filters.items() if k in CONSTANT_DIMENSIONS)
    groups: list[UsageGroup] = []
    if window.starts and not excluded:
        query = UsageQuery(
            start=window.starts[0],
            end=window.query_end,
            bucket_seconds=window.width,
            group_by=stored,
            filters=column_filters,
        )
        groups = await accounting.aggregate(query)
    buckets = _by_bucket(groups)
    data: list[ReportBucket[MessagesUsageReportResult]] = []
    for start in window.starts:
        results = []
        for group in buckets.get(start, []):
            t = group.tokens
            keys: dict[str, str | None] = {**group.keys, **{k: CONSTANT_DIMENSIONS[k] for k in constant}}
            results.append(
                MessagesUsageReportResult(
                    uncached_input_tokens=t.uncached_input_tokens,
                    cache_creation=CacheCreationUsage(
                        ephemeral_1h_input_tokens=t.cache_creation_1h_input_tokens,
                        ephemeral_5m_input_tokens=t.cache_creation_5m_input_tokens,
                    ),
                    cache_read_input_tokens=t.cache_read_input_tokens,
                    output_tokens=t.output_tokens,
                    **keys,
                )
            )
        data.append(_bucket(start, window.width, results))
    return MessagesUsageReport(data=data, has_more=window.next_page is not None, next_page=window.next_page)


async def cost_report(accounting: Accounting, window: Window, *, group_by: Sequence[str]) -> CostReport:
    by_workspace = "workspace_id" in group_by
    by_description = "description" in group_by
    groups: list[UsageGroup] = []
    if window.starts:
        columns = ("model", "service_tier", "context_window", *(("workspace_id",) if by_workspace else ()))
        query = UsageQuery(start=window.starts[0], end=window.query_end, bucket_seconds=window.width, group_by=columns)
        groups = await accounting.aggregate(query)
    buckets = _by_bucket(groups)
    data: list[ReportBucket[CostReportResult]] = []
    for start in window.starts:
        lines = _cost_lines(accounting.prices, buckets.get(start, []), by_workspace, by_description)
        results = [CostReportResult(amount=format_cents(amount), **fields) for fields, amount in lines]
        data.append(_bucket(start, window.width, results))
    return CostReport(data=data, has_more=window.next_page is not None, next_page=window.next_page)


def _cost_lines(
    prices: PriceTable, groups: Sequence[UsageGroup], by_workspace: bool, by_description: bool
) -> list[tuple[dict[str, str | None], Decimal]]:
    """Amounts per result key, in a stable order (first appearance in sorted groups)."""
    totals: dict[tuple[str | None, ...], Decimal] = {}
    fields: dict[tuple[str | None, ...], dict[str, str | None]] = {}
    for group in groups:
        model, tier = str(group.keys["model"]), str(group.keys["service_tier"])
        workspace = group.keys.get("workspace_id") if by_workspace else None
        for token_type, n, cents in prices.line_items(model, tier, group.tokens):
            if by_description:
                if n == 0:
                    continue
                window_class = group.keys["context_window"]
                key: tuple[str | None, ...] = (workspace, model, tier, window_class, token_type)
                fields.setdefault(
                    key,
                    {
                        "workspace_id": workspace,
                        "description": description(model, tier, token_type),
                        "cost_type": "tokens",
                        "context_window": window_class,
                        "model": model,
                        "service_tier": tier,
                        "token_type": token_type,
                    },
                )
            else:
                key = (workspace,)
                fields.setdefault(key, {"workspace_id": workspace})
            totals[key] = EXACT.add(totals.get(key, Decimal(0)), cents)
    return [(fields[k], totals[k]) for k in totals]
