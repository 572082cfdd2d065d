"""Hostile tool and output-format schemas against a real server: a hypothesis strategy that
draws what schemathesis never does, schemas built to be expensive (deep nesting, wide
objects, long enums, ``anyOf`` fans, ``$ref`` chains and cycles, huge repetition bounds,
patterns, and all of them combined), sent as a tool's ``input_schema`` under ``tool_choice:
any`` and as ``output_config.format``, on ``/v1/messages`` and ``count_tokens``.

Properties: every answer is a 200 or a 400 in the Anthropic envelope (never a 5xx or a
dropped connection); the slowest answer's wall time is reported in the terminal summary
beside schemathesis' (budgets are checked before the grammar is built, so it stays small;
timings are reported, never asserted).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import MODEL, assert_error

from .conftest import FuzzServer, record_latency

LEAVES: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "integer", "minimum": -(10**20), "maximum": 10**20},
    {"type": "string", "pattern": "^(a+)+$"},
    {"type": "string", "minLength": 10**6},
    {"type": "array", "items": {"type": "string"}, "minItems": 10**5},
    {"type": "number", "multipleOf": 1e-300},
    {"enum": list(range(5000))},
    {"const": "x" * 70_000},
    {},
    True,
]


def _deep(depth: int, leaf: Any) -> Any:
    schema = leaf
    for i in range(depth):
        schema = {"type": "object", "properties": {f"k{i}": schema}, "required": [f"k{i}"]}
    return schema


def _wide(width: int, leaf: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {f"p{i}": leaf for i in range(width)}, "required": ["p0"]}


def _fan(width: int, leaf: Any) -> dict[str, Any]:
    return {"anyOf": [leaf] * width}


def _refs(length: int, cyclic: bool) -> dict[str, Any]:
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(length)}
    defs[f"d{length}"] = {"$ref": "#/$defs/d0"} if cyclic else {"type": "string"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def _all_of(count: int, leaf: Any) -> dict[str, Any]:
    return {"allOf": [{"type": "object", "properties": {f"a{i}": leaf}} for i in range(count)]}


SHAPES = st.one_of(
    st.builds(_deep, st.integers(1, 200), st.sampled_from(LEAVES)),
    st.builds(_wide, st.integers(1, 3000), st.sampled_from(LEAVES)),
    st.builds(_fan, st.integers(1, 600), st.sampled_from(LEAVES)),
    st.builds(_refs, st.integers(1, 300), st.booleans()),
    st.builds(_all_of, st.integers(1, 200), st.sampled_from(LEAVES)),
)
SCHEMAS = st.recursive(SHAPES, lambda inner: st.builds(_wide, st.integers(1, 40), inner), max_leaves=4)
EXAMPLES = 40
MAX_BODY = 4_000_000
"""Bytes of JSON a drawn body may take (larger draws are discarded before they are built:
nesting shares subschemas, so their JSON can grow past any memory)."""


def _size(value: Any, memo: dict[int, int]) -> int:
    """About how many bytes of JSON ``value`` serializes to (shared parts counted once each)."""
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, dict):
        size = 2 + sum(len(str(k)) + 4 + _size(v, memo) for k, v in value.items())
    elif isinstance(value, list):
        size = 2 + sum(_size(v, memo) + 2 for v in value)
    else:
        size = len(json.dumps(value))
    memo[id(value)] = size
    return size


@pytest.fixture(scope="module")
def seen() -> Counter[str]:
    return Counter()


def _post(live: FuzzServer, path: str, payload: dict[str, Any], fuzz_stats: Counter[str]) -> httpx.Response:
    raw = json.dumps(payload).encode()
    resp = httpx.post(live.base_url + path, content=raw, headers=live.headers(), timeout=120)
    record_latency(fuzz_stats, "hostile-schema", resp.elapsed.total_seconds())
    return resp


@settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(schema=SCHEMAS, as_format=st.booleans(), count=st.booleans())
def test_hostile_schemas_are_answered_cheaply_in_the_envelope(
    fuzz_server: FuzzServer, fuzz_stats: Counter[str], seen: Counter[str], schema: Any, as_format: bool, count: bool
) -> None:
    assume(_size(schema, {}) < MAX_BODY)
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "#say:{}"}]}
    if as_format:
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    else:
        body["tools"] = [{"name": "t", "input_schema": {"type": "object", "properties": {"x": schema}}}]
        body["tool_choice"] = {"type": "any"}
    if not count:
        body["max_tokens"] = 16
    resp = _post(fuzz_server, "/v1/messages/count_tokens" if count else "/v1/messages", body, fuzz_stats)
    seen[str(resp.status_code)] += 1
    fuzz_stats["hostile-schema cases"] += 1
    if resp.status_code != 200:
        assert_error(resp, 400, "invalid_request_error")


def test_hostile_schemas_met_both_outcomes(seen: Counter[str]) -> None:
    """The strategy can fail: it drew schemas that were accepted and schemas that were refused."""
    if not seen:
        pytest.skip("the hostile-schema cases were deselected")
    assert seen["200"] and seen["400"], seen
