"""Extended thinking with a reasoning-format fake engine."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import Message

MODEL = "fake-reasoner"


def thought(client: anthropic.Anthropic, content: str, *, max_tokens: int = 2048) -> Message:
    """The reply to one user turn, with thinking enabled on a 1,024-token budget."""
    return client.messages.create(
        model=MODEL,
        max_tokens=max_tokens,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": content}],
    )


def test_thinking_block_then_text_with_valid_signature(reasoning_client: anthropic.Anthropic) -> None:
    message = thought(reasoning_client, "#think:step one, step two #say:The answer is 4.")
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert "step one, step two" in thinking.thinking
    assert thinking.signature
    assert message.content[1].text == "The answer is 4."  # type: ignore[union-attr]


def test_signature_round_trip_and_tamper_rejection(reasoning_client: anthropic.Anthropic) -> None:
    first = reasoning_client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "adaptive"},
        messages=[{"role": "user", "content": "#think:pondering #say:Yes."}],
    )
    echoed: list[dict[str, Any]] = [b.model_dump(exclude_none=True) for b in first.content]
    history: list[Any] = [
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": echoed},
        {"role": "user", "content": "#say:ok"},
    ]
    again = reasoning_client.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert again.content[-1].text == "ok"  # type: ignore[union-attr]
    echoed[0]["thinking"] = echoed[0]["thinking"] + " (edited)"
    with pytest.raises(anthropic.BadRequestError) as info:
        reasoning_client.messages.create(model=MODEL, max_tokens=100, messages=history)
    assert "Invalid `signature` in `thinking` block" in info.value.body["error"]["message"]  # type: ignore[index]


def test_budget_closes_thinking(reasoning_client: anthropic.Anthropic) -> None:
    message = thought(reasoning_client, "#think-long #say:Done.", max_tokens=4000)
    thinking = message.content[0]
    assert thinking.type == "thinking"
    # The fake tokenizer is byte-level: 1024 thinking tokens are about 1024 characters,
    # far less than the 3,000 the model wanted to write.
    assert 1000 <= len(thinking.thinking) <= 1100
    assert message.content[1].text == "Done."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


def test_streaming_thinking_events(reasoning_client: anthropic.Anthropic) -> None:
    with reasoning_client.messages.stream(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "#think:abc #say:X"}],
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert deltas[0] == "thinking_delta"
    # exactly one signature_delta, right before the thinking block stops (then text deltas)
    assert deltas.count("signature_delta") == 1
    assert deltas[deltas.index("signature_delta") - 1] == "thinking_delta"
    assert deltas[-1] == "text_delta"
    assert final.content[0].type == "thinking" and final.content[0].signature


def test_display_omitted_keeps_signature(reasoning_client: anthropic.Anthropic) -> None:
    message = reasoning_client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "adaptive", "display": "omitted"},
        messages=[{"role": "user", "content": "#think:secret #say:X"}],
    )
    thinking = message.content[0]
    assert thinking.type == "thinking" and thinking.thinking == "" and thinking.signature


def test_thinking_not_requested_hides_reasoning(reasoning_client: anthropic.Anthropic) -> None:
    message = reasoning_client.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": "#think:hidden #say:X"}],
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "X"  # type: ignore[union-attr]


def test_non_reasoning_model_is_made_to_think(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "#say:plain"}],
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Thinking it over.\n"  # type: ignore[union-attr]
    assert message.content[1].text == "plain"  # type: ignore[union-attr]
    info = client.models.retrieve("claude-sonnet-4-6")
    assert info.capabilities is not None and info.capabilities.thinking.supported is True


def test_redacted_thinking_accepted_in_history(reasoning_client: anthropic.Anthropic) -> None:
    message = reasoning_client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=[
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "redacted_thinking", "data": "opaque"}, {"type": "text", "text": "a"}],
            },
            {"role": "user", "content": "#say:fine"},
        ],
    )
    assert message.content[-1].text == "fine"  # type: ignore[union-attr]
