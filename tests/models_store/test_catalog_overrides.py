"""A configured entry overrides what the GGUF's template says: tools rendered natively or in
the system prompt (``tools``), reasoning (``reasoning``)."""

from __future__ import annotations

from dataclasses import replace

from catalogs import served_model
from epistula.generation.prepare import prepare_message
from epistula.protocol.messages import MessageCreateParams

INSTRUCTIONS = "You may call one or more functions to assist with the user query."
PARAMS = MessageCreateParams.model_validate(
    {
        "model": "fake",
        "max_tokens": 16,
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Weather?"}],
    }
)


def prompt_text(tools_override: bool | None) -> str:
    model = replace(served_model(), tools_override=tools_override)
    prepared = prepare_message(PARAMS, model, version="2023-06-01")
    return model.engine.detokenize(list(prepared.prompt))


def test_the_tools_override_decides_where_definitions_go() -> None:
    model = served_model()
    assert not model.native_tools  # ChatML has no place for tools: they go into the system prompt
    detected = prompt_text(None)
    assert INSTRUCTIONS in detected and "get_weather" in detected
    assert prompt_text(False) == detected
    assert replace(model, tools_override=True).native_tools
    assert INSTRUCTIONS not in prompt_text(True)  # handed to the template instead


def test_the_reasoning_override() -> None:
    model = served_model()
    assert not model.reasoning  # ChatML has no <think>
    assert replace(model, reasoning_override=True).reasoning
