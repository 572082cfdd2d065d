"""Hostile schemas: each budget gives a 400 naming the limit and the path, and what is
within the budgets builds a grammar whose size grows linearly (work is measured by the
grammar's cost, never by wall time)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistula.constraints.json_schema import schema_grammar
from epistula.constraints.limits import LIMITS
from epistula.constraints.schema_check import check_schema
from epistula.constraints.tools import CACHE, json_output_grammar, tool_call_grammar
from epistula.errors import InvalidRequestError
from epistula.protocol.tools import Tool

PATH = "tools.0.input_schema"


def build(schema: Any) -> int:
    """The grammar cost of a schema that passes every check (as a request would reach it)."""
    parsed = json.loads(json.dumps(schema))  # a request's schema is a tree, never a shared DAG
    check_schema(parsed, PATH)
    return schema_grammar(parsed, PATH)[1]


def rejected(schema: Any) -> str:
    with pytest.raises(InvalidRequestError) as info:
        build(schema)
    assert info.value.status == 400 and info.value.error_type == "invalid_request_error"
    return info.value.message


def nest(levels: int, make: Any, leaf: Any) -> Any:
    schema = leaf
    for _ in range(levels):
        schema = make(schema)
    return schema


def test_depth_over_the_limit_names_depth_and_path() -> None:
    message = rejected(nest(40, lambda s: {"type": "array", "items": s}, {"type": "string"}))
    assert message.startswith(f"{PATH}: schema depth 33 exceeds the limit of {LIMITS.max_depth}")
    assert "items.items" in message


def test_type_lists_nested_grow_linearly() -> None:
    """``"type": ["object", "object"]`` nested 25 levels grew ~2.7x per level before."""
    costs = [
        build(nest(n, lambda s: {"type": ["object", "object"], "properties": {"a": s}}, {"type": "integer"}))
        for n in (10, 20, 25)
    ]
    assert costs[2] - costs[1] < (costs[1] - costs[0]) * 0.6  # 5 more levels cost about half of 10 more
    assert costs[2] < 8_000


def test_type_list_of_two_kinds_nested_stays_linear() -> None:
    schema = nest(
        25, lambda s: {"type": ["object", "array"], "properties": {"a": s}, "items": {"type": "null"}}, {"type": "null"}
    )
    assert build(schema) < 25 * 400


def test_many_optional_properties_are_linear_and_capped() -> None:
    def props(n: int) -> dict[str, Any]:
        return {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(n)}}

    small, large = build(props(100)), build(props(900))
    assert large < 10 * small  # 9x the keys, not 81x
    message = rejected(props(2_000))
    assert message == f"{PATH}: more than {LIMITS.max_properties} properties in the schema"


def test_huge_integer_bounds_are_dropped_not_expanded() -> None:
    assert build({"type": "integer", "maximum": 1e300}) < 400
    assert build({"type": "integer", "minimum": -1e300, "maximum": 10**40}) < 400
    assert "no integer of at most 15 digits" in rejected({"type": "integer", "minimum": 1e300})
    assert "no integer" in rejected({"type": "integer", "minimum": 5, "maximum": 4})
    assert "no number" in rejected({"type": "number", "exclusiveMinimum": 1e300})


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '"7"', "true"])
def test_non_finite_or_non_numeric_bounds_are_400(text: str) -> None:
    schema = json.loads(
        '{"type": "object", "properties": {"n": {"type": "integer", "maximum": VALUE}}}'.replace("VALUE", text)
    )
    assert rejected(schema) == f"{PATH}.properties.n.maximum: must be a finite number"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("maximum", None, "maximum: must not be null"),
        ("minItems", 100_000, "minItems 100000 exceeds the limit of 256"),
        ("minLength", 100_000, "minLength 100000 exceeds the limit of 4096"),
        ("minItems", -1, "must be a non-negative integer"),
        ("maxLength", 1.5, "must be a non-negative integer"),
    ],
)
def test_count_caps(key: str, value: Any, message: str) -> None:
    assert rejected({"type": "object", "properties": {"v": {key: value}}}).endswith(message)


def test_large_maximums_are_lowered_to_the_cap() -> None:
    assert build({"type": "array", "maxItems": 10**9}) <= 2 * LIMITS.max_items_bound + 600
    assert build({"type": "string", "maxLength": 10**9}) <= LIMITS.max_length_bound + 600


def test_enum_and_alternatives_caps() -> None:
    assert rejected({"enum": list(range(2_000))}) == f"{PATH}.enum: 2000 values exceed the limit of 1000"
    many = {"anyOf": [{"const": i} for i in range(300)]}
    assert rejected(many) == f"{PATH}.anyOf: 300 alternatives exceed the limit of 256"


def test_schema_bytes_cap() -> None:
    schema = {"type": "object", "description": "x" * 70_000}
    assert rejected(schema) == f"{PATH}: schema size exceeds the limit of 65536 bytes"


def test_grammar_cost_cap() -> None:
    """Within every other budget, distinct bounded repetitions still add up."""
    schema = {"type": "object", "properties": {f"s{i}": {"type": "string", "maxLength": 4_000 + i} for i in range(300)}}
    with pytest.raises(InvalidRequestError, match="over the limit of 1000000"):
        json_output_grammar(schema, PATH)


def test_nested_20kb_schema_builds_in_linear_size() -> None:
    """A 20 KB nested schema (the one that made a 5-token request take 119 s)."""
    leaf = {
        "type": "object",
        "description": "A leaf object with a few typed fields, as generated by pydantic.",
        "properties": {f"field_{i}": {"type": ["string", "integer", "null"], "description": "one"} for i in range(4)},
    }
    schema = nest(
        10,
        lambda s: {
            "anyOf": [
                {"type": "object", "properties": {"x": s, "y": {"type": "array", "items": leaf}, "z": leaf}},
                {"type": "null"},
            ]
        },
        leaf,
    )
    schema = {"type": "object", "properties": {f"p{i}": schema for i in range(4)}}
    size = len(json.dumps(schema))
    assert 20_000 < size < LIMITS.max_schema_bytes
    assert build(schema) < 5 * size  # identical subschemas are one rule


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (False, "a schema must be a JSON object"),
        ({"type": "object", "properties": {"a": False}, "required": ["a"]}, "a required property with schema `false`"),
        ({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}, "circular allOf"),
        (
            {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "null"}]}}, "$ref": "#/$defs/a"},
            "refers to itself",
        ),
        ({"$ref": "#"}, "refers to itself"),
        ({"$ref": "#/$defs/missing"}, "does not resolve"),
        ({"$ref": "https://example.com/s.json"}, "only local JSON pointers"),
        ({"type": "wat"}, 'unknown type "wat"'),
        ({"type": "object", "properties": {"a": 3}}, "a schema must be a JSON object or a boolean"),
        ({"type": "object", "required": ["a"], "additionalProperties": False}, "forbidden by additionalProperties"),
        ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "allOf admits no value"),
        ({"anyOf": [False, False]}, "no `anyOf` branch admits a value"),
        ({"type": "array", "minItems": 3, "maxItems": 2}, "minItems 3 is above"),
        ({"type": "string", "minLength": 3, "maxLength": 2}, "maxLength 2 is below minLength 3"),
        ({"enum": [1, 2], "type": "string"}, "admits no value of the schema's type"),
        ({"allOf": [{"anyOf": [{"type": "string"}]}, {"anyOf": [{"type": "null"}]}]}, "not supported"),
    ],
)
def test_unsatisfiable_or_malformed_schemas_are_400(schema: Any, message: str) -> None:
    assert message in rejected(schema)


def test_recursive_refs_build_a_self_referencing_rule() -> None:
    schema = {
        "$defs": {
            "Tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}}
        },
        "$ref": "#/$defs/Tree",
    }
    grammar, _ = schema_grammar(schema, PATH)
    assert "ref-Tree" in grammar and grammar.count("::=") < 15


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "properties",
                    "items",
                    "anyOf",
                    "allOf",
                    "$ref",
                    "enum",
                    "minimum",
                    "maxItems",
                    "required",
                    "additionalProperties",
                    "prefixItems",
                    "const",
                    "$defs",
                    "oneOf",
                    "minLength",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(schema=JSON)
def test_garbage_schemas_build_or_give_400_never_500(schema: Any) -> None:
    try:
        check_schema(schema, PATH)
        schema_grammar(schema, PATH)
    except InvalidRequestError as exc:
        assert exc.message.startswith(PATH)


def test_repeated_tool_sets_are_built_once() -> None:
    tool = Tool.model_validate(
        {"name": "t", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    )
    before = CACHE.builds
    first = tool_call_grammar([tool], parallel=True, lazy=True)
    again = tool_call_grammar([Tool.model_validate(tool.model_dump())], parallel=True, lazy=True)
    assert first is again and CACHE.builds == before + 1
    tool_call_grammar([tool], parallel=False, lazy=True)
    assert CACHE.builds == before + 2
