"""``$ref`` resolution and ``allOf`` merging: the two places a schema is inlined.

``merge`` intersects two schemas as far as the grammar needs: types intersect, bounds
take the tighter value, ``properties``/``required`` combine (a key both sides declare gets
``allOf`` of both), ``enum``/``const`` intersect. ``None`` means the intersection admits
no value. Merging two schemas that both carry ``anyOf`` (or both ``oneOf``) would need
every pair of branches, so it is refused rather than expanded.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from .schema_check import schema_error

ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "$schema",
        "$id",
        "$anchor",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$defs",
        "definitions",
        "discriminator",
    }
)
"""Keywords that constrain nothing (``$defs`` only matters to ``$ref`` resolution)."""
_LOWER = ("minimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "maxLength", "maxItems", "maxProperties")


def constraining(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ANNOTATIONS}


def resolve(root: dict[str, Any], ref: str, path: str) -> Any:
    """The subschema a local JSON-pointer ``$ref`` names."""
    if ref != "#" and not ref.startswith("#/"):
        raise schema_error(path, f"unsupported $ref {json.dumps(ref)} (only local JSON pointers such as #/$defs/Name)")
    node: Any = root
    for raw in ref[2:].split("/") if ref != "#" else ():
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise schema_error(path, f"$ref {json.dumps(ref)} does not resolve")
    return node


def normalize_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """Draft 4's boolean ``exclusiveMinimum``/``exclusiveMaximum`` as the numeric form."""
    out = dict(schema)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(flag), bool) and out.pop(flag) and bound in out:
            out[flag] = out.pop(bound)
    return out


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return set(kind if isinstance(kind, list) else [kind])


def _merge_types(a: dict[str, Any], b: dict[str, Any]) -> list[str] | bool | None:
    """The intersected type list, None when neither side has one, False when empty."""
    ta, tb = _types(a), _types(b)
    if ta is None or tb is None:
        chosen = ta if tb is None else tb
        return None if chosen is None else sorted(chosen)
    both = ta & tb
    if ("integer" in ta and "number" in tb) or ("number" in ta and "integer" in tb):
        both.add("integer")
    return sorted(both) or False


def _merge_values(a: dict[str, Any], b: dict[str, Any]) -> list[Any] | bool | None:
    """``const``/``enum`` intersected as one list of allowed values (None: unconstrained)."""
    sets = []
    for side in (a, b):
        if "const" in side:
            sets.append([side["const"]])
        elif "enum" in side:
            sets.append(list(side["enum"]))
    if not sets:
        return None
    if len(sets) == 1:
        return sets[0]
    keys = {json.dumps(v, sort_keys=True) for v in sets[1]}
    common = [v for v in sets[0] if json.dumps(v, sort_keys=True) in keys]
    return common or False


def _both(x: Any, y: Any) -> Any:
    if x is True or x == {}:
        return y
    if y is True or y == {}:
        return x
    return {"allOf": [x, y]}


def _merge_properties(a: dict[str, Any], b: dict[str, Any], out: dict[str, Any]) -> None:
    pa: dict[str, Any] = a.get("properties", {})
    pb: dict[str, Any] = b.get("properties", {})
    merged: dict[str, Any] = {}
    for key in [*pa, *(k for k in pb if k not in pa)]:
        # A key one side does not declare is an additional property there.
        left = pa[key] if key in pa else a.get("additionalProperties", True)
        right = pb[key] if key in pb else b.get("additionalProperties", True)
        merged[key] = False if left is False or right is False else _both(left, right)
    if merged:
        out["properties"] = merged
    required = list(dict.fromkeys([*a.get("required", []), *b.get("required", [])]))
    if required:
        out["required"] = required
    extra = [s.get("additionalProperties", True) for s in (a, b)]
    if extra != [True, True]:
        out["additionalProperties"] = False if False in extra else _both(*extra)


def _merge_items(a: dict[str, Any], b: dict[str, Any], out: dict[str, Any], path: str) -> None:
    if "prefixItems" in a and "prefixItems" in b:
        raise schema_error(path, "allOf with `prefixItems` on both sides is not supported")
    for x, y in ((a, b), (b, a)):
        if "prefixItems" in x:
            out["prefixItems"] = [_both(p, y.get("items", True)) for p in x["prefixItems"]]
    if "items" in a or "items" in b:
        out["items"] = _both(a.get("items", True), b.get("items", True))


def merge(a: dict[str, Any], b: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The intersection of two (already ``$ref``-resolved) schemas; None if empty."""
    a, b = normalize_bounds(constraining(a)), normalize_bounds(constraining(b))
    out: dict[str, Any] = {**b, **a}
    for key in ("anyOf", "oneOf"):
        if key in a and key in b:
            raise schema_error(path, f"allOf of several `{key}` schemas is not supported")
    if "allOf" in a or "allOf" in b:
        out["allOf"] = [*a.get("allOf", []), *b.get("allOf", [])]
    types = _merge_types(a, b)
    if types is False:
        return None
    out.pop("type", None)
    if types is not None:
        out["type"] = types
    values = _merge_values(a, b)
    if values is False:
        return None
    out.pop("const", None)
    out.pop("enum", None)
    if values is not None:
        out["enum"] = values
    for keys, pick in ((_LOWER, max), (_UPPER, min), (("exclusiveMinimum",), max), (("exclusiveMaximum",), min)):
        for key in keys:
            present = [s[key] for s in (a, b) if key in s]
            if present:
                out[key] = pick(present)
    for key in ("properties", "required", "additionalProperties", "prefixItems", "items"):
        out.pop(key, None)
    _merge_properties(a, b, out)
    _merge_items(a, b, out, path)
    return out
