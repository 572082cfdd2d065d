"""The rate-limit gate hook: reserve at admission, refuse with 429, correct at the end.

Accounting follows the real API (spec section 12): a request costs 1 from the request
bucket; the input-token bucket is charged the whole prompt up front and corrected at
the end to ``input_tokens + cache_creation_input_tokens`` (cache reads do not count);
the output-token bucket is charged ``max_tokens`` up front and corrected to the output
actually produced (a stream that fails or is abandoned pays for what it produced so
far).

Each request meets the rules of its limit group (:class:`~epistula.config.RateLimitConfig`
``group``): Messages requests ``model``; token counts ``token_count`` (admitted before the
prompt is read and tokenized, with an input estimate of 0 corrected to the count at the
end, so a flood of counts is refused before it costs anything); batch items ``batch``
(the batch worker puts a refused item back in the queue and pauses that workspace).

If the backend fails (Redis unreachable), requests are admitted without limits and the
failure is logged: the engine's own queue still protects the server, and an outage of
the limiter should not become an outage of the API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from epistula.config import RateLimitGroup
from epistula.errors import RateLimitError
from epistula.generation.gate import Admission, Outcome
from epistula.protocol.usage import Usage

from .backend import Demand, LimiterBackend, Take
from .headers import BucketState, ratelimit_headers
from .rules import Dimension, Limit, RateLimitRules

log = logging.getLogger("epistula.limits")

WINDOW = 60.0
RETRY_MARGIN = 0.05
"""Seconds added to ``retry-after``: a retry sent exactly on time must not miss by a rounding error."""
_UNITS: dict[Dimension, str] = {
    "requests": "requests",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
}
_GROUPS: dict[RateLimitGroup, str] = {"model": "", "token_count": " (token counting)", "batch": " (batch processing)"}


def group_of(admission: Admission) -> RateLimitGroup:
    if admission.batch:
        return "batch"
    return "token_count" if admission.kind == "count_tokens" else "model"


@dataclass(frozen=True, slots=True)
class Reservation:
    limits: tuple[Limit, ...]
    amounts: tuple[float, ...]


class RateLimitHook:
    name = "rate_limits"

    def __init__(self, rules: RateLimitRules, backend: LimiterBackend) -> None:
        self.rules = rules
        self.backend = backend

    async def admit(self, admission: Admission) -> None:
        if not self.rules:
            return
        principal = admission.principal
        limits = self.rules.limits(
            workspace_id=principal.workspace_id,
            key_id=principal.key_id,
            model=admission.model,
            group=group_of(admission),
        )
        if not limits:
            return
        estimate: dict[Dimension, float] = {
            "requests": 1,
            "input_tokens": admission.input_tokens,
            "output_tokens": admission.max_tokens,
        }
        amounts = tuple(estimate[limit.dimension] for limit in limits)
        try:
            take = await self.backend.take(
                [_demand(limit, amount) for limit, amount in zip(limits, amounts, strict=True)]
            )
        except Exception:
            log.exception("rate limiter unavailable: admitting %s without limits", admission.request_id)
            return
        states = _states(limits, amounts, take)
        headers = ratelimit_headers(states)
        if not take.granted:
            exceeded = next((s.limit for s in states if s.refused), limits[0])
            raise RateLimitError(_message(exceeded), retry_after=take.wait + RETRY_MARGIN, headers=headers)
        admission.headers.update(headers)
        admission.scratch[self.name] = Reservation(tuple(limits), amounts)

    async def release(self, admission: Admission) -> None:
        reservation = admission.scratch.pop(self.name, None)
        if isinstance(reservation, Reservation):
            await self._charge(
                [_demand(limit, -amount) for limit, amount in zip(reservation.limits, reservation.amounts, strict=True)]
            )

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        reservation = admission.scratch.pop(self.name, None)
        if not isinstance(reservation, Reservation):
            return
        actual: dict[Dimension, float] = {
            "requests": 1,
            "input_tokens": usage.input_tokens + usage.cache_creation_input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else admission.output_tokens,
        }
        corrections = [
            _demand(limit, actual[limit.dimension] - reserved)
            for limit, reserved in zip(reservation.limits, reservation.amounts, strict=True)
            if actual[limit.dimension] != reserved
        ]
        await self._charge(corrections)

    async def _charge(self, demands: list[Demand]) -> None:
        """Corrections run when a response is ending: a failing backend must not fail it."""
        if not demands:
            return
        try:
            await self.backend.charge(demands)
        except Exception:
            log.exception("rate limiter unavailable: a correction of %d bucket(s) was lost", len(demands))


def _demand(limit: Limit, amount: float) -> Demand:
    return Demand(key=limit.bucket, capacity=limit.per_minute, amount=amount, window=WINDOW)


def _states(limits: list[Limit], amounts: tuple[float, ...], take: Take) -> list[BucketState]:
    return [
        BucketState(
            limit=limit,
            level=level,
            now=take.now,
            window=WINDOW,
            refused=not take.granted and min(amount, limit.per_minute) > level,
        )
        for limit, amount, level in zip(limits, amounts, take.levels, strict=True)
    ]


def _message(limit: Limit) -> str:
    scope = "workspace" if limit.scope == "workspace" else "API key"
    return (
        f"This request would exceed the rate limit for your {scope} ({limit.scope_id}) of "
        f"{limit.per_minute:,} {_UNITS[limit.dimension]} per minute for model {limit.model}{_GROUPS[limit.group]}. "
        "You can see the response headers for current usage. Please reduce the prompt length "
        "or the maximum tokens requested, or try again later."
    )
