"""Usage and cost reports against the real embedded model (SmolLM2-135M): what the
model generates is not scripted, and the reports still sum to what was billed."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from batches.support import Live, start_live, wait_ended
from conftest import MODEL_STARTUP, model_settings, server_fixture

from .support import (
    ADMIN_KEY,
    MODEL,
    PRICES,
    TOKEN_FIELDS,
    add,
    billed,
    cost_report,
    expected_cents,
    iso,
    results_of,
    summed,
    usage_report,
)

pytestmark = pytest.mark.model


model_live = server_fixture(
    "model_live",
    "accounting-model",
    model_settings,
    start=start_live,
    startup_timeout=MODEL_STARTUP,
    admin_api_key=ADMIN_KEY,
    n_seq_max=4,
    prices=PRICES,
)


def test_reports_sum_to_real_model_usage(model_live: Live) -> None:
    start = iso(time.time() - 3600)
    client = model_live.client(timeout=120.0)
    prompt: Any = [{"role": "user", "content": "Name three colours."}]
    live_tokens: dict[str, int] = {}
    msg = client.messages.create(model=MODEL, max_tokens=24, messages=prompt)
    live_tokens = add(live_tokens, billed(msg.usage))
    with client.messages.stream(model=MODEL, max_tokens=24, messages=prompt) as stream:
        live_tokens = add(live_tokens, billed(stream.get_final_message().usage))
    assert live_tokens["output_tokens"] > 0

    batch = client.messages.batches.create(
        requests=[
            {"custom_id": f"q{i}", "params": {"model": MODEL, "max_tokens": 16, "messages": prompt}} for i in range(2)
        ]
    )
    wait_ended(client, batch.id, timeout=300.0)
    batch_tokens: dict[str, int] = {}
    for line in client.messages.batches.results(batch.id):
        assert line.result.type == "succeeded"
        batch_tokens = add(batch_tokens, billed(line.result.message.usage))

    report = usage_report(model_live, starting_at=start, bucket_width="1h", **{"group_by[]": ["service_tier"]})
    tiers = {r["service_tier"]: r for r in results_of(report)}
    assert summed([tiers["standard"]]) == add({k: 0 for k in TOKEN_FIELDS}, live_tokens)
    assert summed([tiers["batch"]]) == add({k: 0 for k in TOKEN_FIELDS}, batch_tokens)

    costs = cost_report(model_live, starting_at=start)
    want = sum(expected_cents(live_tokens).values()) + sum(expected_cents(batch_tokens, batch=True).values())
    assert sum(Decimal(r["amount"]) for r in results_of(costs)) == want
