"""Wire shapes of the Admin API usage and cost reports (``/v1/organizations/...``)."""

from __future__ import annotations

from typing import Generic, TypeVar

from epistula.protocol._base import ResponseModel

R = TypeVar("R", bound=ResponseModel)


class CacheCreationUsage(ResponseModel):
    ephemeral_1h_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0


class ServerToolUsage(ResponseModel):
    web_search_requests: int = 0


class MessagesUsageReportResult(ResponseModel):
    """Token sums of one group in one bucket; group keys not grouped by are null."""

    uncached_input_tokens: int
    cache_creation: CacheCreationUsage
    cache_read_input_tokens: int
    output_tokens: int
    server_tool_use: ServerToolUsage = ServerToolUsage()
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    speed: str | None = None
    account_id: str | None = None
    service_account_id: str | None = None


class CostReportResult(ResponseModel):
    """An amount in cents (a decimal string); the description fields are set only when
    grouping by ``description``."""

    currency: str = "USD"
    amount: str
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    context_window: str | None = None
    model: str | None = None
    service_tier: str | None = None
    token_type: str | None = None


class ReportBucket(ResponseModel, Generic[R]):
    starting_at: str
    ending_at: str
    results: list[R]


class Report(ResponseModel, Generic[R]):
    data: list[ReportBucket[R]]
    has_more: bool
    next_page: str | None


MessagesUsageReport = Report[MessagesUsageReportResult]
CostReport = Report[CostReportResult]
