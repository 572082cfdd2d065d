"""The gate hook that feeds metrics and the access log.

It goes first in the gate so that even a request another hook refuses (429) is logged
with its model and key; ``finish`` records tokens and latencies once per generation.
"""

from __future__ import annotations

import time

from epistula.generation.gate import Admission, Outcome
from epistula.protocol.usage import Usage

from .context import current_request
from .metrics import Metrics


class ObservabilityHook:
    name = "observability"

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def admit(self, admission: Admission) -> None:
        facts = current_request.get()
        if facts is not None and not admission.batch:
            facts.model = admission.model
            facts.key_id = admission.principal.key_id
            facts.workspace_id = admission.principal.workspace_id

    async def release(self, admission: Admission) -> None:
        self.metrics.messages.labels(admission.model, "refused").inc()

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        ended = time.monotonic()
        m, model = self.metrics, admission.model
        m.messages.labels(model, outcome).inc()
        if usage is not None:
            m.input_tokens.labels(model).inc(usage.input_tokens)
            m.output_tokens.labels(model).inc(usage.output_tokens)
            m.cache_read_tokens.labels(model).inc(usage.cache_read_input_tokens)
            m.cache_creation_tokens.labels(model).inc(usage.cache_creation_input_tokens)
        first = admission.first_token_at
        if first is not None:
            m.time_to_first_token.labels(model).observe(first - admission.started)
            produced = usage.output_tokens if usage is not None else admission.output_tokens
            if produced > 1:
                m.time_per_output_token.labels(model).observe((ended - first) / (produced - 1))
        facts = current_request.get()
        if facts is not None and not admission.batch:
            facts.outcome = outcome
            if usage is not None:
                facts.input_tokens = usage.input_tokens
                facts.output_tokens = usage.output_tokens
                facts.cache_read_input_tokens = usage.cache_read_input_tokens
                facts.cache_creation_input_tokens = usage.cache_creation_input_tokens
