"""Hypothesis strategies: random JSON Schemas within the budgets, using every keyword the
README lists as enforced, and random valid instances of them.

Instances are written the way the grammar writes JSON (``json.dumps`` spacing, object
keys in the order the schema declares them, integers of at most 15 digits), since the
grammar accepts one serialization of each valid value, not every one.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from epistula.constraints.ranges import bounds
from epistula.constraints.schema_merge import merge, normalize_bounds, resolve

BIG = 10**15 - 1
KEYS = st.sampled_from(["a", "b", "name", "x y", 'q"uote', "back\\slash", "ünï", "tab\t", "€uro", "[brk]", "1"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.sampled_from([0.5, -2.25, 1e-05, 3.0]),
    st.text(max_size=6),
)
BOUND = st.one_of(st.integers(-300, 300), st.sampled_from([-(10**16), 10**16, 1e300, -1e300, 2.5, -7.5, BIG, -BIG]))


@st.composite
def string_schema(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    lo = draw(st.none() | st.integers(0, 4))
    if lo is not None:
        schema["minLength"] = lo
    if draw(st.booleans()):
        schema["maxLength"] = draw(st.integers(lo or 0, 8))
    return schema


def _satisfiable(schema: dict[str, Any]) -> bool:
    """Two consecutive integers of at most 15 digits lie within the bounds."""
    lower, upper = bounds(normalize_bounds(schema))
    lo = -BIG if lower is None else (math.floor(lower[0]) + 1 if lower[1] else math.ceil(lower[0]))
    hi = BIG if upper is None else (math.ceil(upper[0]) - 1 if upper[1] else math.floor(upper[0]))
    return max(lo, -BIG) + 1 <= min(hi, BIG)


@st.composite
def numeric_schema(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    for key in draw(
        st.lists(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]), unique=True)
    ):
        schema[key] = draw(BOUND)
    if draw(st.integers(0, 9)) == 0 and "minimum" in schema:
        schema = {k: v for k, v in schema.items() if not k.startswith("exclusive")}
        schema["exclusiveMinimum"] = True  # draft 4 flag form
    if not _satisfiable(schema):
        return {"type": kind}
    return schema


def leaf() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        string_schema(),
        numeric_schema("integer"),
        numeric_schema("number"),
        st.lists(SCALARS, min_size=1, max_size=4, unique_by=lambda v: json.dumps(v)).map(lambda v: {"enum": v}),
        SCALARS.map(lambda v: {"const": v}),
        st.just({}),
    )


DISJOINT = {
    "string": string_schema(),
    "integer": numeric_schema("integer"),
    "null": st.just({"type": "null"}),
    "boolean": st.just({"type": "boolean"}),
}


@st.composite
def one_of(draw: st.DrawFn) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(sorted(DISJOINT)), min_size=2, max_size=3, unique=True))
    return {"oneOf": [draw(DISJOINT[k]) for k in kinds]}


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    @st.composite
    def obj(draw: st.DrawFn) -> dict[str, Any]:
        keys = draw(st.lists(KEYS, max_size=4, unique=True))
        schema: dict[str, Any] = {"type": "object", "properties": {k: draw(children) for k in keys}}
        schema["required"] = [k for k in keys if draw(st.booleans())]
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        if not keys and draw(st.booleans()):
            schema = {"type": "object", "additionalProperties": draw(children)}
        return schema

    @st.composite
    def array(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if draw(st.booleans()):
            schema["prefixItems"] = draw(st.lists(children, min_size=1, max_size=3))
            schema["items"] = draw(st.just(False) | children)
        else:
            schema["items"] = draw(children)
        lo = draw(st.integers(0, 3))
        schema["minItems"] = lo
        if draw(st.booleans()):
            schema["maxItems"] = draw(st.integers(lo, 5))
        if schema.get("items") is False:
            schema["minItems"] = min(lo, len(schema["prefixItems"]))
        return schema

    @st.composite
    def all_of(draw: st.DrawFn) -> dict[str, Any]:
        first, second = draw(obj()), draw(obj())
        second["properties"] = {
            k: v for k, v in second.get("properties", {}).items() if k not in first.get("properties", {})
        }
        second["required"] = [k for k in second.get("required", []) if k in second["properties"]]
        for part in (first, second):
            part.pop("additionalProperties", None)
        return {"allOf": [first, second]}

    nullable = st.tuples(children, st.booleans()).map(
        lambda cb: {"anyOf": [cb[0], {"type": "null"}]} if cb[1] else _nullable_type(cb[0])
    )
    return st.one_of(
        obj(),
        array(),
        st.lists(children, min_size=2, max_size=3).map(lambda b: {"anyOf": b}),
        one_of(),
        all_of(),
        nullable,
    )


def _nullable_type(schema: Any) -> Any:
    if isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] != "null":
        return {**schema, "type": [schema["type"], "null"]}
    return schema


@st.composite
def schemas(draw: st.DrawFn) -> dict[str, Any]:
    """A root schema, sometimes with ``$defs`` referenced (also recursively)."""
    body = draw(st.recursive(leaf(), containers, max_leaves=6))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return {
            "$defs": {"Item": body},
            "type": "object",
            "properties": {
                "one": {"$ref": "#/$defs/Item"},
                "two": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "maxItems": 2},
            },
            "required": ["one"],
        }
    if choice == 1:
        return {
            "$defs": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": body,
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}, "maxItems": 2},
                    },
                    "required": ["value"],
                }
            },
            "$ref": "#/$defs/Node",
        }
    return body if isinstance(body, dict) else {}


# -- instances ---------------------------------------------------------------------------

ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-BIG, BIG)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)


def _number(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    lower, upper = bounds(normalize_bounds(schema))

    def ok(x: float) -> bool:
        return (lower is None or (x > lower[0] if lower[1] else x >= lower[0])) and (
            upper is None or (x < upper[0] if upper[1] else x <= upper[0])
        )

    lo = -BIG if lower is None else max(int(max(lower[0], -BIG - 1)) - 1, -BIG)
    hi = BIG if upper is None else min(int(min(upper[0], BIG + 1)) + 1, BIG)
    candidates = [x for x in (draw(st.integers(lo, hi)) for _ in range(8)) if ok(x)] or [
        x for x in (lo, hi, 0) if ok(x)
    ]
    whole = draw(st.sampled_from(candidates))
    if schema.get("type") == "number" and ok(whole + 1) and abs(whole) < 10**8 and draw(st.booleans()):
        return whole + 0.5  # an interval [m, m + 1] inside the bounds: the grammar writes its fractions
    if schema.get("type") == "number" and lower is None and upper is None and draw(st.booleans()):
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    return whole


def instance(draw: st.DrawFn, schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    if schema is True or schema == {}:
        return draw(ANY_JSON)
    assert isinstance(schema, dict)
    if "$ref" in schema:
        return instance(draw, resolve(root, schema["$ref"], "test"), root, depth + 1)
    if "allOf" in schema:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = merge(merged, part, "test")
        return instance(draw, merged, root, depth)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return instance(draw, draw(st.sampled_from(schema[key])), root, depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return instance(draw, {**schema, "type": draw(st.sampled_from(kind))}, root, depth)
    if kind in ("integer", "number"):
        return _number(draw, schema)
    if kind == "string":
        return draw(st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 6)))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "array":
        prefix = schema.get("prefixItems", [])
        rest = schema.get("items", True)
        lo = schema.get("minItems", 0)
        hi = schema.get("maxItems", lo + 2)
        if rest is False:
            hi = min(hi, len(prefix))
        count = lo if depth > 3 else draw(st.integers(lo, hi))
        return [instance(draw, prefix[i] if i < len(prefix) else rest, root, depth + 1) for i in range(count)]
    if "properties" in schema:
        required = set(schema.get("required", []))
        return {
            k: instance(draw, sub, root, depth + 1)
            for k, sub in schema["properties"].items()
            if k in required or (depth <= 3 and draw(st.booleans()))
        }
    extra = schema.get("additionalProperties", True)
    if extra is False or depth > 3:
        return {}
    return {draw(st.text(max_size=4)): instance(draw, extra, root, depth + 1) for _ in range(draw(st.integers(0, 2)))}
