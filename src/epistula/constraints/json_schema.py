"""JSON Schema -> GBNF (llama.cpp grammar syntax).

Enforced by the grammar: types, ``properties``/``required`` (no unknown keys),
``enum``/``const``, ``anyOf``/``oneOf``/type lists, ``items``/``prefixItems``,
``minItems``/``maxItems``, ``minLength``/``maxLength``, integer
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``$ref`` into
``$defs``/``definitions``. Not enforced (the value stays a well-formed JSON value
of the right type): ``pattern``, ``format``, bounds on non-integer numbers,
``uniqueItems``, ``multipleOf``, ``not``, ``if``/``then``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .ranges import integer_grammar

_PRIMITIVES = {
    "ws": '" "?',
    "char": r'[^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "string": '"\\"" char* "\\""',
    "number": '"-"? ([0] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?',
    "integer": '"-"? ([0] | [1-9] [0-9]{0,15})',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}"',
    "array": '"[" ws ( value ("," ws value)* )? "]"',
}



def literal(text: str) -> str:
    """A GBNF string literal matching ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("\t", "\\t")
    return f'"{escaped}"'


class SchemaConverter:
    def __init__(self, root_schema: dict[str, Any]) -> None:
        self._root = root_schema
        self._rules: dict[str, str] = {}
        self._refs: dict[str, str] = {}
        self._used_primitives: set[str] = set()

    # ------------------------------------------------------------- rules
    def _prim(self, name: str) -> str:
        self._used_primitives.add(name)
        deps = {"string": ["char"], "value": ["object", "array", "string", "number", "boolean", "null"],
                "object": ["ws", "string", "value"], "array": ["ws", "value"]}
        for dep in deps.get(name, []):
            if dep not in self._used_primitives:
                self._prim(dep)
        return name

    def _add(self, hint: str, body: str) -> str:
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-") or "r"
        name, n = base, 1
        while name in self._rules and self._rules[name] != body:
            n += 1
            name = f"{base}{n}"
        self._rules[name] = body
        return name

    def grammar(self, root_rule: str = "root") -> str:
        body = self.visit(self._root, "root")
        self._rules[root_rule] = body
        lines = [f"{name} ::= {rule}" for name, rule in self._rules.items()]
        lines += [f"{name} ::= {_PRIMITIVES[name]}" for name in sorted(self._used_primitives)]
        return "\n".join(lines) + "\n"

    def grammar_with_root(self, root_body: str) -> str:
        """Render the grammar with an explicit ``root`` expression over existing rules."""
        self._rules["root"] = root_body
        lines = [f"{name} ::= {rule}" for name, rule in self._rules.items()]
        lines += [f"{name} ::= {_PRIMITIVES[name]}" for name in sorted(self._used_primitives)]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------- visitors
    def _resolve(self, ref: str) -> tuple[str, dict[str, Any]]:
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref!r} (only local refs)")
        node: Any = self._root
        for part in ref[2:].split("/"):
            node = node[part]
        return ref.rsplit("/", 1)[-1], node

    def visit(self, schema: Any, hint: str) -> str:
        if schema is True or schema == {} or schema is None:
            return self._prim("value")
        if schema is False:
            raise ValueError("schema `false` admits no value")
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref not in self._refs:
                name, target = self._resolve(ref)
                rule = self._add(f"ref-{name}", "PENDING")
                self._refs[ref] = rule
                self._rules[rule] = self.visit(target, name)
            return self._refs[ref]
        if "const" in schema:
            return literal(json.dumps(schema["const"], ensure_ascii=False))
        if "enum" in schema:
            return "(" + " | ".join(literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"]) + ")"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                alts = [self._add(f"{hint}-{i}", self.visit(s, f"{hint}-{i}")) for i, s in enumerate(schema[key])]
                return "(" + " | ".join(alts) + ")"
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                sub = self._resolve(part["$ref"])[1] if "$ref" in part else part
                merged = _merge(merged, sub)
            return self.visit(merged, hint)
        kind = schema.get("type")
        if isinstance(kind, list):
            alts = [self.visit({**schema, "type": t}, f"{hint}-{t}") for t in kind]
            return "(" + " | ".join(alts) + ")"
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                return self._prim("value")
        method = getattr(self, f"_visit_{kind}", None)
        if method is None:
            raise ValueError(f"unsupported schema type {kind!r}")
        result: str = method(schema, hint)
        return result

    def _visit_string(self, schema: dict[str, Any], hint: str) -> str:
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if lo == 0 and hi is None:
            return self._prim("string")
        self._prim("char")
        upper = "" if hi is None else str(int(hi))
        return f'"\\"" char{{{lo},{upper}}} "\\""'

    def _visit_integer(self, schema: dict[str, Any], hint: str) -> str:
        lo = schema.get("minimum")
        hi = schema.get("maximum")
        if isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(
            schema.get("exclusiveMinimum"), bool
        ):
            lo = int(schema["exclusiveMinimum"]) + 1
        if isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(
            schema.get("exclusiveMaximum"), bool
        ):
            hi = int(schema["exclusiveMaximum"]) - 1
        if lo is None and hi is None:
            return self._prim("integer")
        import math

        lo_i = None if lo is None else math.ceil(lo)
        hi_i = None if hi is None else math.floor(hi)
        return self._add(f"{hint}-int", integer_grammar(lo_i, hi_i))

    def _visit_number(self, schema: dict[str, Any], hint: str) -> str:
        if schema.get("minimum", -1) >= 0 or schema.get("exclusiveMinimum", -1) >= 0:
            return '([0] | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})?'
        return self._prim("number")

    def _visit_boolean(self, schema: dict[str, Any], hint: str) -> str:
        return self._prim("boolean")

    def _visit_null(self, schema: dict[str, Any], hint: str) -> str:
        return self._prim("null")

    def _visit_array(self, schema: dict[str, Any], hint: str) -> str:
        self._prim("ws")
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        prefix = schema.get("prefixItems")
        if prefix:
            parts = [self._add(f"{hint}-{i}", self.visit(s, f"{hint}-{i}")) for i, s in enumerate(prefix)]
            return '"[" ws ' + ' "," ws '.join(parts) + ' "]"'
        item = self._add(f"{hint}-item", self.visit(schema.get("items", {}), f"{hint}-item"))
        if hi is not None and int(hi) == 0:
            return '"[" ws "]"'
        rest_hi = "" if hi is None else str(int(hi) - 1)
        rest_lo = max(lo - 1, 0)
        rep = f'("," ws {item}){{{rest_lo},{rest_hi}}}'
        body = f"{item} {rep}"
        return f'"[" ws {body} "]"' if lo > 0 else f'"[" ws ({body})? "]"'

    def _visit_object(self, schema: dict[str, Any], hint: str) -> str:
        self._prim("ws")
        props: dict[str, Any] = schema.get("properties", {})
        required = [k for k in props if k in set(schema.get("required", []))]
        optional = [k for k in props if k not in set(required)]
        kv: dict[str, str] = {}
        for key, sub in props.items():
            value = self.visit(sub, f"{hint}-{key}")
            kv[key] = self._add(f"{hint}-{key}-kv", f'{literal(json.dumps(key, ensure_ascii=False))} ":" ws {value}')
        if not props:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                return '"{" ws "}"'
            return self._prim("object")
        required_seq = ' "," ws '.join(kv[k] for k in required)
        if required:
            tail = " ".join(f'("," ws {kv[k]})?' for k in optional)
            return f'"{{" ws {required_seq} {tail} "}}"'
        # No required keys: any ordered subset of the optional ones.
        alts = []
        for i, key in enumerate(optional):
            tail = " ".join(f'("," ws {kv[k]})?' for k in optional[i + 1 :])
            alts.append(f"{kv[key]} {tail}".strip())
        chain = self._add(f"{hint}-props", " | ".join(f"({a})" for a in alts))
        return f'"{{" ws ({chain})? "}}"'


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key == "properties":
            out["properties"] = {**out.get("properties", {}), **value}
        elif key == "required":
            out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
        else:
            out[key] = value
    return out


def schema_to_gbnf(schema: dict[str, Any]) -> str:
    """A complete grammar whose ``root`` matches JSON values valid under ``schema``."""
    return SchemaConverter(schema).grammar()


def value_rule(converter: SchemaConverter, schema: dict[str, Any], hint: str) -> str:
    """Add rules for ``schema`` to ``converter`` and return the expression matching it."""
    return converter.visit(schema, hint)
