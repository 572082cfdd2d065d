"""Objects and arrays as GBNF, each linear in its number of keys or items.

Objects: keys in declared order (required keys where ``properties`` lists them, then
required keys it does not list), each optional key a ``("," ws key)?`` or, when no key
is required, one suffix rule per key. Arrays: ``item ("," ws item){lo-1,hi-1}``, and a
``prefixItems`` tuple as nested optional tails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .gbnf import json_literal
from .schema_check import schema_error

if TYPE_CHECKING:
    from .json_schema import SchemaConverter


def _keys(schema: dict[str, Any], path: str) -> list[tuple[str, Any, bool]]:
    """``(name, value schema, required)`` for every key the grammar writes, in order."""
    props: dict[str, Any] = schema.get("properties", {})
    required = list(dict.fromkeys(schema.get("required", [])))
    extra = schema.get("additionalProperties", True)
    keys: list[tuple[str, Any, bool]] = []
    for name, sub in props.items():
        if sub is False:
            if name in required:
                raise schema_error(f"{path}.properties.{name}", "a required property with schema `false`")
            continue
        keys.append((name, sub, name in required))
    for name in required:
        if name not in props:
            if extra is False:
                raise schema_error(
                    f"{path}.required", f"required property `{name}` is forbidden by additionalProperties false"
                )
            keys.append((name, extra, True))
    return keys


def _free_object(conv: SchemaConverter, extra: Any, root: int, path: str) -> str:
    if extra is False:
        return conv.add(f"{path}-empty", '"{" ws "}"')
    if extra is True or extra == {}:
        return conv.prim("object")
    value = conv.visit(extra, root, f"{path}.additionalProperties")
    pair = conv.add(f"{path}-pair", f'{conv.prim("string")} ":" ws {value}')
    return conv.add(path, f'"{{" ws ({pair} ("," ws {pair})*)? "}}"')


def object_rule(conv: SchemaConverter, schema: dict[str, Any], root: int, path: str) -> str:
    keys = _keys(schema, path)
    if not keys:
        return _free_object(conv, schema.get("additionalProperties", True), root, path)
    kv = []
    for name, sub, _ in keys:
        value = conv.visit(sub, root, f"{path}.properties.{name}")
        kv.append(conv.add(f"{path}-{name}-kv", f'{json_literal(name)} ":" ws {value}'))
    first = next((i for i, (_, _, req) in enumerate(keys) if req), None)
    if first is None:
        # The first key present has no comma: one alternative per first key, then the
        # suffix rule T(i+1) ::= ("," ws kv(i+1))? T(i+2).
        tails: list[str | None] = [None] * (len(kv) + 1)
        for i in range(len(kv) - 1, 0, -1):
            after = tails[i + 1]
            tails[i] = conv.add(f"{path}-tail", f'("," ws {kv[i]})?' + (f" {after}" if after else ""))
        alts = [kv[i] + (f" {tails[i + 1]}" if tails[i + 1] else "") for i in range(len(kv))]
        return conv.add(path, f'"{{" ws ({" | ".join(alts)})? "}}"')
    parts = []
    for i, (_, _, req) in enumerate(keys):
        if i < first:
            parts.append(f'({kv[i]} "," ws)?')
        elif i == first:
            parts.append(kv[i])
        else:
            parts.append(f'"," ws {kv[i]}' if req else f'("," ws {kv[i]})?')
    return conv.add(path, '"{" ws ' + " ".join(parts) + ' "}"')


def _array_parts(conv: SchemaConverter, schema: dict[str, Any], path: str) -> tuple[list[Any], Any, int, int | None]:
    """``(prefix schemas, schema of the rest or False, min items, max items or None)``."""
    items = schema.get("items")
    if isinstance(items, list):  # draft 7 tuple form
        prefix, rest = list(items), schema.get("additionalItems", True)
    else:
        prefix, rest = list(schema.get("prefixItems", [])), True if items is None else items
    lo = int(schema.get("minItems", 0))
    hi = schema.get("maxItems")
    hi = None if hi is None else min(int(hi), conv.limits.max_items_bound)
    if False in prefix:  # no item may stand at that position
        prefix, rest = prefix[: prefix.index(False)], False
    if rest is False:
        hi = len(prefix) if hi is None else min(hi, len(prefix))
    if hi is not None and lo > hi:
        raise schema_error(path, f"minItems {lo} is above the {hi} items the schema allows")
    return prefix, rest, lo, hi


def array_rule(conv: SchemaConverter, schema: dict[str, Any], root: int, path: str) -> str:
    prefix, rest, lo, hi = _array_parts(conv, schema, path)
    if hi == 0:
        return conv.add(f"{path}-empty", '"[" ws "]"')
    n = len(prefix)
    tail = None
    if rest is not False and (hi is None or hi > n):
        item = conv.visit(rest, root, f"{path}.items")
        if n == 0:
            more = conv.repeat(
                f"{path}-more",
                conv.add(f"{path}-next", f'"," ws {item}'),
                max(lo - 1, 0),
                None if hi is None else hi - 1,
            )
            seq = f"{item} {more}" if more else item
            return conv.add(path, f'"[" ws {seq} "]"' if lo > 0 else f'"[" ws ({seq})? "]"')
        unit = conv.add(f"{path}-next", f'"," ws {item}')
        tail = conv.repeat(f"{path}-more", unit, max(lo - n, 0), None if hi is None else hi - n)
    suffix = tail
    for k in reversed(range(n if hi is None else min(n, hi))):
        element = conv.visit(prefix[k], root, f"{path}.prefixItems.{k}")
        body = ('"," ws ' if k > 0 else "") + element + (f" {suffix}" if suffix else "")
        rule = conv.add(f"{path}-{k}", body)
        suffix = rule if k < lo else f"({rule})?"
    return conv.add(path, f'"[" ws {suffix} "]"')
