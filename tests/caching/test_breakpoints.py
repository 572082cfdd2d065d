"""Breakpoints -> token offsets of the rendered prompt (fake engine: 1 token = 1 byte)."""

from __future__ import annotations

from typing import Any

import pytest

from catalogs import fake_catalog
from epistula.engines.base import CachePoint
from epistula.errors import InvalidRequestError
from epistula.generation.prepare import prepare_message, tokenize_prompt
from epistula.models.catalog import Catalog
from epistula.protocol.messages import MessageCreateParams

CC = {"type": "ephemeral"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    catalog = fake_catalog()
    return catalog


def params(**body: Any) -> MessageCreateParams:
    return MessageCreateParams.model_validate({"model": "fake", "max_tokens": 8, **body})


def points(catalog: Catalog, **body: Any) -> tuple[CachePoint, ...]:
    return prepare_message(params(**body), catalog.resolve("fake"), version="2023-06-01").cache_points


def text_before(catalog: Catalog, point: CachePoint, **body: Any) -> str:
    ids = tokenize_prompt(params(**body), catalog.resolve("fake")).ids
    return catalog.resolve("fake").engine.detokenize(list(ids[: point.offset]))


def test_offsets_end_exactly_at_the_marked_blocks(catalog: Catalog) -> None:
    body = {
        "system": [{"type": "text", "text": "SYS-A"}, {"type": "text", "text": "SYS-B", "cache_control": CC}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "U1", "cache_control": CC}, {"type": "text", "text": "U2"}],
            },
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": [{"type": "text", "text": "U3", "cache_control": {**CC, "ttl": "5m"}}]},
        ],
    }
    found = points(catalog, **body)
    assert [p.ttl for p in found] == ["5m", "5m", "5m"]
    texts = [text_before(catalog, p, **body) for p in found]
    assert texts[0].endswith("SYS-A\n\nSYS-B")
    assert texts[1].endswith("<|im_start|>user\nU1")
    assert texts[2].endswith("A1<|im_end|>\n<|im_start|>user\nU3")
    assert all(p.lookback == 0 for p in found)  # fewer than 20 blocks before each


def test_offsets_do_not_depend_on_what_follows(catalog: Catalog) -> None:
    """The same marked prefix gets the same offset whatever comes after it (so the next
    turn, or another question after the same document, finds the entry)."""
    doc = [{"type": "text", "text": "DOCUMENT " * 20, "cache_control": CC}]
    alone = points(catalog, messages=[{"role": "user", "content": doc}])
    more_blocks = points(catalog, messages=[{"role": "user", "content": [*doc, {"type": "text", "text": "Q?"}]}])
    next_turn = points(
        catalog,
        messages=[
            {"role": "user", "content": doc},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Q2"},
        ],
    )
    merged_turn = points(catalog, messages=[{"role": "user", "content": doc}, {"role": "user", "content": "Q3"}])
    assert alone == more_blocks == next_turn == merged_turn
    assert len(alone) == 1


def test_ttls_and_automatic_caching(catalog: Catalog) -> None:
    body = {
        "system": [{"type": "text", "text": "S" * 50, "cache_control": {**CC, "ttl": "1h"}}],
        "messages": [{"role": "user", "content": "hello there"}],
        "cache_control": CC,
    }
    first, last = points(catalog, **body)
    assert (first.ttl, last.ttl) == ("1h", "5m")
    assert text_before(catalog, last, **body).endswith("user\nhello there")


def test_breakpoint_at_the_end_of_the_prompt_leaves_the_last_token(catalog: Catalog) -> None:
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Sure", "cache_control": CC}]},
        ]
    }
    (point,) = points(catalog, **body)
    n = len(tokenize_prompt(params(**body), catalog.resolve("fake")).ids)
    assert point.offset == n - 1  # the prefill is the end of the prompt; its last token must be computed


def test_lookback_reaches_twenty_blocks_back(catalog: Catalog) -> None:
    blocks = [{"type": "text", "text": f"block {i}"} for i in range(30)]
    blocks[29]["cache_control"] = CC
    body = {"messages": [{"role": "user", "content": blocks}]}
    (point,) = points(catalog, **body)
    assert text_before(catalog, CachePoint(point.lookback), **body).endswith("block 9")


def test_tool_breakpoint_covers_the_tools_rendered_after_the_system_prompt(catalog: Catalog) -> None:
    tool = {"name": "lookup", "description": "Find things.", "input_schema": {"type": "object"}, "cache_control": CC}
    body = {"system": "SYSTEM", "tools": [tool], "messages": [{"role": "user", "content": "hi"}]}
    (point,) = points(catalog, **body)
    before = text_before(catalog, point, **body)
    assert before.startswith("<|im_start|>system\nSYSTEM") and '"name": "lookup"' in before
    assert "<|im_start|>user" not in before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "system": [
                    {"type": "text", "text": "a", "cache_control": CC},
                    {"type": "text", "text": "b", "cache_control": {**CC, "ttl": "1h"}},
                ],
                "messages": [{"role": "user", "content": "hi"}],
            },
            "system.1.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
            "cache_control block. Note that blocks are processed in the following order: `tools`, `system`, "
            "`messages`.",
        ),
        (
            {
                "tools": [{"name": "t", "input_schema": {"type": "object"}, "cache_control": CC}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {**CC, "ttl": "1h"}}]}
                ],
            },
            "messages.0.content.0.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
            "ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, "
            "`system`, `messages`.",
        ),
        (
            {
                "system": [{"type": "text", "text": str(i), "cache_control": CC} for i in range(4)],
                "messages": [{"role": "user", "content": "hi"}],
                "cache_control": CC,
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
    ],
)
def test_invalid_breakpoints(catalog: Catalog, body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        tokenize_prompt(params(**body), catalog.resolve("fake"))
    assert str(info.value) == message


def test_automatic_breakpoint_on_an_explicit_one_takes_no_extra_slot(catalog: Catalog) -> None:
    body = {
        "system": [{"type": "text", "text": str(i), "cache_control": CC} for i in range(3)],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": CC}]}],
        "cache_control": CC,
    }
    assert len(points(catalog, **body)) == 4
