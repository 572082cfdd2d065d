"""Budget checks on a JSON Schema, run before any grammar is built.

One iterative walk over the schema document: its size, subschema depth, the total
``properties`` count, each ``enum``/``anyOf``/``oneOf``/``type`` list's length, and the
numeric keywords (finite numbers; counts that are non-negative integers within their
caps). A violation raises :class:`~epistula.errors.InvalidRequestError` naming the limit
and the JSON path.
"""

from __future__ import annotations

import json
import math
from typing import Any

from epistula.errors import InvalidRequestError

from .limits import LIMITS, SchemaLimits

SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
"""Keywords whose value maps names to subschemas."""
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
"""Keywords whose value is a list of subschemas."""
SCHEMA_ONE = (
    "additionalProperties",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
"""Keywords whose value is one subschema (``items`` may also be a list, draft 7)."""
BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def schema_error(path: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {message}")


def schema_size(schema: object, limit: int) -> int:
    """Bytes of ``schema`` as compact JSON, counted up to the first chunk past ``limit``."""
    size = 0
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    for chunk in encoder.iterencode(schema):
        size += len(chunk.encode("utf-8", "surrogatepass"))
        if size > limit:
            break
    return size


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


KEYWORDS = frozenset(
    {*SCHEMA_MAPS, *SCHEMA_LISTS, *SCHEMA_ONE, *BOUNDS, *COUNTS, "type", "enum", "items", "required", "$ref"}
)
"""Every keyword the grammar reads (``null`` is no value for any of them)."""


def _check_node(node: dict[str, Any], path: str, limits: SchemaLimits) -> None:
    for key in KEYWORDS:
        if key in node and node[key] is None:
            raise schema_error(f"{path}.{key}", "must not be null")
    kind = node.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if len(kinds) > limits.max_alternatives:
            raise schema_error(f"{path}.type", f"{len(kinds)} types exceed the limit of {limits.max_alternatives}")
        for k in kinds:
            if not isinstance(k, str) or k not in TYPES:
                raise schema_error(f"{path}.type", f"unknown type {json.dumps(k)}")
    for key in ("enum", "anyOf", "oneOf", "allOf", "prefixItems", "required"):
        if key in node and not isinstance(node[key], list):
            raise schema_error(f"{path}.{key}", "must be an array")
    if "enum" in node and len(node["enum"]) > limits.max_enum_values:
        raise schema_error(f"{path}.enum", f"{len(node['enum'])} values exceed the limit of {limits.max_enum_values}")
    for key in ("anyOf", "oneOf"):
        if key in node and len(node[key]) > limits.max_alternatives:
            raise schema_error(
                f"{path}.{key}", f"{len(node[key])} alternatives exceed the limit of {limits.max_alternatives}"
            )
    if len(node.get("prefixItems", ())) > limits.max_items_bound:
        raise schema_error(f"{path}.prefixItems", f"more than {limits.max_items_bound} items")
    if any(not isinstance(r, str) for r in node.get("required", ())):
        raise schema_error(f"{path}.required", "must be an array of strings")
    for key in BOUNDS:
        value = node.get(key)
        if key.startswith("exclusive") and isinstance(value, bool):
            continue  # draft 4: a flag on minimum/maximum
        if value is not None and not (_is_number(value) and math.isfinite(value)):
            raise schema_error(f"{path}.{key}", "must be a finite number")
    for key in COUNTS:
        value = node.get(key)
        if value is None:
            continue
        if not _is_number(value) or not math.isfinite(value) or value < 0 or value != int(value):
            raise schema_error(f"{path}.{key}", "must be a non-negative integer")
    for key, cap in (("minItems", limits.max_items_bound), ("minLength", limits.max_length_bound)):
        if node.get(key, 0) > cap:
            raise schema_error(f"{path}.{key}", f"{key} {int(node[key])} exceeds the limit of {cap}")
    ref = node.get("$ref")
    if ref is not None and not isinstance(ref, str):
        raise schema_error(f"{path}.$ref", "must be a string")


def _children(node: dict[str, Any], path: str) -> list[tuple[object, str]]:
    out: list[tuple[object, str]] = []
    for key in SCHEMA_MAPS:
        value = node.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise schema_error(f"{path}.{key}", "must be an object")
        out += [(sub, f"{path}.{key}.{name}") for name, sub in value.items()]
    for key in SCHEMA_LISTS:
        out += [(sub, f"{path}.{key}.{i}") for i, sub in enumerate(node.get(key, ()))]
    items = node.get("items")
    if isinstance(items, list):
        out += [(sub, f"{path}.items.{i}") for i, sub in enumerate(items)]
    elif items is not None:
        out.append((items, f"{path}.items"))
    out += [(node[key], f"{path}.{key}") for key in SCHEMA_ONE if key in node]
    return out


def check_schema(schema: object, path: str, limits: SchemaLimits = LIMITS) -> None:
    """Raise a 400 naming the limit and path if ``schema`` is over any budget."""
    if not isinstance(schema, dict):
        raise schema_error(path, "a schema must be a JSON object")
    try:
        size = schema_size(schema, limits.max_schema_bytes)
    except (RecursionError, ValueError) as exc:
        raise schema_error(path, f"schema depth exceeds the limit of {limits.max_depth}") from exc
    if size > limits.max_schema_bytes:
        raise schema_error(path, f"schema size exceeds the limit of {limits.max_schema_bytes} bytes")
    properties = 0
    stack: list[tuple[object, str, int]] = [(schema, path, 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            raise schema_error(where, "a schema must be a JSON object or a boolean")
        if depth > limits.max_depth:
            raise schema_error(path, f"schema depth {depth} exceeds the limit of {limits.max_depth} (at {where})")
        _check_node(node, where, limits)
        children = _children(node, where)
        properties += len(node.get("properties", ()))
        if properties > limits.max_properties:
            raise schema_error(path, f"more than {limits.max_properties} properties in the schema")
        stack += [(sub, sub_path, depth + 1) for sub, sub_path in children]
