"""Thinking on the default model (SmolLM2, which does not reason natively): epistula opens
the ``<think>`` section through the prompt and closes it at the budget."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from conftest import LiveServer

PROMPTS = [
    "What is 12 + 30?",
    "Name the capital of France.",
    "Is 7 a prime number?",
    "What colour is the sky on a clear day?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "Spell the word cat backwards.",
    "What is 9 times 3?",
    "Which is bigger, 100 or 1000?",
    "Name a fruit that is yellow.",
    "How many days are in a week?",
    "What do bees make?",
    "What is water made of?",
    "What is 50 minus 8?",
    "Which planet do we live on?",
    "What language is spoken in Spain?",
    "How many hours are in a day?",
    "What animal says moo?",
    "What is the first letter of the alphabet?",
    "Is ice hot or cold?",
]


def _ask(client: anthropic.Anthropic, prompt: str, **extra: Any) -> anthropic.types.Message:
    return client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=1400,
        messages=[{"role": "user", "content": prompt}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        **extra,
    )


def test_signed_thinking_block_then_answer(model_server: LiveServer) -> None:
    client = model_server.client()
    message = _ask(client, PROMPTS[0])
    assert message.content[0].type == "thinking"
    thinking = message.content[0]
    assert thinking.thinking.strip() and thinking.signature
    assert model_server.state.messages._signer.verify(thinking.thinking, thinking.signature)
    history: list[Any] = [
        {"role": "user", "content": PROMPTS[0]},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {"role": "user", "content": "Thanks."},
    ]
    assert client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=history).content is not None
    history[1]["content"][0]["thinking"] += " (edited)"
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
        client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=history)


def test_streamed_and_omitted(model_server: LiveServer) -> None:
    client = model_server.client()
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=600,
        messages=[{"role": "user", "content": "Hi"}],
        thinking={"type": "adaptive", "display": "omitted"},
        output_config={"effort": "low"},
    ) as stream:  # type: ignore[call-arg]
        kinds = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == ""
    assert final.content[0].signature and kinds.count("signature_delta") == 1


def test_budget_closes_the_section_and_an_answer_follows(model_server: LiveServer) -> None:
    """The measurement in the report: over 20 prompts, how often the section closes within
    the budget (by the model or by epistula at the budget) and a text answer follows."""
    client = model_server.client()
    answered = at_budget = 0
    for prompt in PROMPTS:
        message = _ask(client, prompt)
        thinking = message.content[0]
        assert thinking.type == "thinking" and thinking.signature
        answered += any(b.type == "text" and b.text.strip() for b in message.content)
        at_budget += message.usage.output_tokens > 1024
    print(
        f"\nthinking measurement: section closed and an answer followed in {answered}/20 "
        f"({at_budget} closed by epistula at the 1024-token budget)"
    )
    assert answered >= 15
