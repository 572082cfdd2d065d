"""The gate hooks: spend limits refuse at admission, usage rows are written at finish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from epistula.errors import InvalidRequestError
from epistula.generation.gate import Admission, Outcome
from epistula.protocol.usage import Usage

from .records import ServiceTier, TokenCounts, UsageRecord, context_window
from .spend import SpendTracker, month_bounds
from .writer import UsageWriter

log = logging.getLogger("epistula.accounting")


def billed_tokens(usage: Usage | None, *, batch: bool, outcome: Outcome) -> TokenCounts:
    """What the request is billed. Batch items are billed only when they succeed (an
    errored or canceled result carries no usage); a live request pays for what it used,
    even when it was cut short."""
    if usage is None or (batch and outcome != "succeeded"):
        return TokenCounts()
    split_5m = usage.cache_creation.ephemeral_5m_input_tokens
    split_1h = usage.cache_creation.ephemeral_1h_input_tokens
    # A total without the TTL split is all 5-minute writes (the default TTL).
    split_5m += max(0, usage.cache_creation_input_tokens - split_5m - split_1h)
    return TokenCounts(
        uncached_input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_creation_5m_input_tokens=split_5m,
        cache_creation_1h_input_tokens=split_1h,
    )


class UsageHook:
    """Records one :class:`UsageRecord` per admitted request when it finishes."""

    def __init__(
        self, writer: UsageWriter, tracker: SpendTracker | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._writer = writer
        self._tracker = tracker
        self._clock = clock

    async def admit(self, admission: Admission) -> None:
        return None

    async def release(self, admission: Admission) -> None:
        return None

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        try:
            record = self.record_for(admission, usage, outcome)
            self._writer.record(record)
            if self._tracker is not None:
                self._tracker.observe(record)
        except Exception:  # accounting must never break a response
            log.exception("recording usage of %s failed", admission.request_id)

    def record_for(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> UsageRecord:
        ended = time.monotonic()
        tokens = billed_tokens(usage, batch=admission.batch, outcome=outcome)
        tier: ServiceTier = "batch" if admission.batch else "standard"
        first = admission.first_token_at
        return UsageRecord(
            request_id=admission.request_id,
            created_at=self._clock(),
            workspace_id=admission.principal.workspace_id,
            api_key_id=admission.principal.key_id or None,
            model=admission.model,
            service_tier=tier,
            batch=admission.batch,
            outcome=outcome,
            tokens=tokens,
            latency_ms=(ended - admission.started) * 1000.0,
            ttft_ms=None if first is None else (first - admission.started) * 1000.0,
            context_window=context_window(tokens),
        )


class SpendLimitHook:
    """Refuses requests of a workspace whose spend this calendar month (UTC) has reached
    its limit, with the real API's error: 400 ``invalid_request_error``."""

    def __init__(
        self,
        tracker: SpendTracker,
        limit_for: Callable[[str], Decimal | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tracker = tracker
        self._limit_for = limit_for
        self._clock = clock

    async def admit(self, admission: Admission) -> None:
        workspace_id = admission.principal.workspace_id
        limit = self._limit_for(workspace_id)
        if limit is None:
            return
        spent = await self._tracker.spent_cents(workspace_id)
        if spent >= limit * 100:
            _, month_end = month_bounds(self._clock())
            regain = datetime.fromtimestamp(month_end, UTC).strftime("%Y-%m-%d")
            raise InvalidRequestError(
                "You have reached your specified workspace API usage limits. "
                f"You will regain access on {regain} at 00:00 UTC."
            )

    async def release(self, admission: Admission) -> None:
        return None

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        return None
