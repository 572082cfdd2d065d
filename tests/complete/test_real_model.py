"""``/v1/complete`` on the real embedded model (SmolLM2-135M) through the legacy SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import MODEL, LiveServer

from .conftest import LegacySDK

pytestmark = pytest.mark.model

QUESTION = "You are a helpful assistant.\n\nHuman: What is the capital of France?\n\nAssistant:"
"""With the system text SmolLM2 answers (without it, it rambles in French)."""


def test_greedy_completion_streamed_and_not(legacy_sdk_path: Path, model_server: LiveServer) -> None:
    """At temperature 0 the streamed increments add up to exactly the non-streamed completion
    (the engine's greedy output does not depend on what else runs beside it)."""
    legacy = LegacySDK(legacy_sdk_path, model_server)
    kwargs = {"model": MODEL, "prompt": QUESTION, "max_tokens_to_sample": 40, "temperature": 0.0}
    plain, streamed = legacy.run({"method": "create", "kwargs": kwargs}, {"method": "stream", "kwargs": kwargs})
    completion = plain["result"]
    assert completion["completion"].strip(), completion
    assert completion["completion"].startswith(" ")  # continues "Assistant:", as Claude's completions did
    assert "Paris" in completion["completion"], completion
    assert "\n\nHuman:" not in completion["completion"]
    assert completion["stop_reason"] in ("stop_sequence", "max_tokens")
    events = streamed["result"]
    assert "".join(e["completion"] for e in events) == completion["completion"]
    assert events[-1]["stop_reason"] == completion["stop_reason"]
