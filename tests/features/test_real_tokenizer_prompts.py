"""Prompt-token claims on the real tokenizers (SmolLM2 and Gemma 3), not only on the fake
engine's one-byte-one-token tokenizer: each Claude Code turn's prompt extends the previous
one token for token (so the slot's KV and the prompt cache are reused), and a cache
breakpoint's token offset ends exactly at its block, whatever follows."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from epistula.generation.prepare import prepare_message, tokenize_prompt
from epistula.protocol.messages import MessageCreateParams

from . import claude_code as cc
from .real_tokenizers import CLAUDE_ALIAS, KINDS, catalog_of

pytestmark = pytest.mark.parametrize("kind", KINDS)

CC = {"type": "ephemeral"}
THOUGHT: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": "c2ln"}
"""Claude Code asks for thinking, so the model is made to think, and the echoed turn
carries the (``display: omitted``) thinking block."""
REPLY: list[dict[str, Any]] = [
    THOUGHT,
    {"type": "text", "text": "I'll run a command to check."},
    {
        "type": "tool_use",
        "id": "toolu_01abc",
        "name": "Bash",
        "input": {"command": "ls", "description": "List files in the current directory"},
    },
]


def params(body: dict[str, Any]) -> MessageCreateParams:
    return MessageCreateParams.model_validate({k: v for k, v in body.items() if k != "stream"})


def prompt_ids(kind: str, body: dict[str, Any]) -> tuple[int, ...]:
    return tokenize_prompt(params(body), catalog_of(kind).resolve(CLAUDE_ALIAS)).ids


def detokenize(kind: str, ids: tuple[int, ...]) -> str:
    return catalog_of(kind).resolve(CLAUDE_ALIAS).engine.detokenize(list(ids))


def test_each_claude_code_turn_extends_the_previous_prompt_token_for_token(kind: str) -> None:
    first = cc.first_turn("4a1f2")
    second = cc.second_turn(first, REPLY, "toolu_01abc", cch="9c3d0")
    reply_two: list[dict[str, Any]] = [
        THOUGHT,
        {"type": "text", "text": "Two files. Reading the notes."},
        {"type": "tool_use", "id": "toolu_02def", "name": "Read", "input": {"file_path": "notes.txt"}},
    ]
    third = cc.second_turn(second, reply_two, "toolu_02def", cch="77e1b")
    ids = [prompt_ids(kind, body) for body in (first, second, third)]
    for earlier, later in itertools.pairwise(ids):
        assert len(later) > len(earlier)
        assert later[: len(earlier)] == earlier, next(
            i for i, (a, b) in enumerate(zip(earlier, later, strict=False)) if a != b
        )
    # What lies between turn one and turn two starts with the model's own reply.
    assert "I'll run a command to check." in detokenize(kind, ids[1][len(ids[0]) :])


def test_the_billing_header_leaves_the_prompt_tokens_alone(kind: str) -> None:
    assert prompt_ids(kind, cc.first_turn("aaaaa")) == prompt_ids(kind, cc.first_turn("bbbbb"))


DOCUMENT = "The tide tables for the northern harbour, in full." * 8


def marked_body(tail: list[dict[str, Any]], document: str = DOCUMENT) -> dict[str, Any]:
    return {
        "model": CLAUDE_ALIAS,
        "max_tokens": 8,
        "system": [
            {"type": "text", "text": "You are a harbour master."},
            {"type": "text", "text": "Answer in one line.", "cache_control": CC},
        ],
        "messages": [{"role": "user", "content": [{"type": "text", "text": document, "cache_control": CC}]}, *tail],
    }


TAILS = [
    [],
    [{"role": "assistant", "content": "High tide is at noon."}, {"role": "user", "content": "And low tide?"}],
    [{"role": "user", "content": "Thanks."}],  # merged into the document's turn
]


def offsets(kind: str, body: dict[str, Any]) -> list[tuple[int, tuple[int, ...]]]:
    """Each breakpoint's offset, with the prompt tokens before it."""
    ids = prompt_ids(kind, body)
    points = prepare_message(params(body), catalog_of(kind).resolve(CLAUDE_ALIAS), version="2023-06-01").cache_points
    return [(p.offset, ids[: p.offset]) for p in points]


def test_breakpoint_offsets_end_at_their_blocks(kind: str) -> None:
    body = marked_body([])
    body["messages"][0]["content"].append({"type": "text", "text": "When is high tide?"})
    (system_offset, before_system), (document_offset, before_document) = offsets(kind, body)
    assert 0 < system_offset < document_offset < len(prompt_ids(kind, body))
    assert detokenize(kind, before_document).endswith("for the northern harbour, in full.")
    # ChatML renders the system prompt as a turn of its own; Gemma 3's template folds it into
    # the first user turn (its separator from the turn's text comes along). Either way the
    # system breakpoint covers the whole system prompt and nothing after it.
    assert detokenize(kind, before_system).rstrip().endswith("Answer in one line.")
    assert "northern harbour" not in detokenize(kind, before_system)


def test_breakpoint_offsets_do_not_depend_on_what_follows(kind: str) -> None:
    """The next turn, or another question after the same document, finds the same entry:
    the same offsets, over the same tokens."""
    found = [offsets(kind, marked_body(tail)) for tail in TAILS]
    assert found[0] == found[1] == found[2]


def test_a_block_ending_in_whitespace_may_lose_its_last_token(kind: str) -> None:
    """A real tokenizer may merge a block's trailing space with the text after it; the offset
    then stops one token short, at a boundary the prompt really has (never inside a token)."""
    found = [offsets(kind, marked_body(tail, DOCUMENT + " ")) for tail in TAILS]
    for points in found:
        _, before = points[-1]
        assert detokenize(kind, before).rstrip().endswith("for the northern harbour, in full.")
    ends = {points[-1][0] for points in found}
    assert max(ends) - min(ends) <= 1
