"""JSON Schema -> GBNF (llama.cpp grammar syntax), in time and size linear in the schema.

Enforced by the grammar: ``type`` (and type lists), ``properties``/``required`` (no
unknown keys when ``properties`` is given; keys in declared order), ``additionalProperties``
(``false`` or a schema), ``enum``/``const``, ``anyOf``/``oneOf`` (as alternatives: a value
matching two ``oneOf`` branches is not excluded), ``allOf`` (merged), ``$ref`` into
``$defs``/``definitions`` (recursion included), ``items``/``prefixItems``,
``minItems``/``maxItems``, ``minLength``/``maxLength``, integer and number
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``. Not enforced (the value
stays well-formed JSON of the right type): ``pattern``, ``format``, ``uniqueItems``,
``contains``, ``multipleOf``, ``minProperties``/``maxProperties``, ``patternProperties``,
``not``, ``if``/``then``/``else``.

Every subschema becomes one named rule, memoized by its JSON text, and identical rule
bodies are shared, so repeated or ``type``-listed subschemas are built once; ``$ref``
targets are rules of their own, so a recursive schema is a rule that references itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .containers import array_rule, object_rule
from .gbnf import json_literal
from .limits import LIMITS, SchemaLimits
from .ranges import bounded_integer, bounded_number, integer_grammar
from .schema_check import schema_error
from .schema_merge import constraining, merge, normalize_bounds, resolve

FRACTION_DIGITS = 20
"""Digits after a number's decimal point (Python writes up to 20, e.g. ``0.00012345678901234567``)."""
_NON_SURROGATE_HEX = "([0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2})"
_PRIMITIVES = {
    "ws": '" "?',
    # One character of a JSON string; a \\u escape never names a UTF-16 surrogate, so each
    # grammar character is one code point (what minLength/maxLength count).
    "char": rf'[\x20-\x21\x23-\x5b\x5d-\uD7FF\uE000-\U0010FFFF] | "\\" (["\\/bfnrt] | "u" {_NON_SURROGATE_HEX})',
    "string": '"\\"" char* "\\""',
    "integer": integer_grammar(None, None, LIMITS.max_integer_digits),
    "number": f'"-"? ([0] | [1-9] [0-9]{{0,15}}) ("." [0-9]{{1,{FRACTION_DIGITS}}})? ([eE] [-+]? [0-9]{{1,3}})?',
    "boolean": '"true" | "false"',
    "null": '"null"',
    "value": "object | array | string | number | boolean | null",
    "object": '"{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}"',
    "array": '"[" ws ( value ("," ws value)* )? "]"',
}
_DEPENDS = {
    "string": ["char"],
    "value": ["object", "array", "string", "number", "boolean", "null"],
    "object": ["ws", "string", "value"],
    "array": ["ws", "value"],
}
_INFERRED = (
    ("object", ("properties", "required", "additionalProperties")),
    ("array", ("items", "prefixItems", "minItems", "maxItems")),
    ("string", ("minLength", "maxLength")),
    ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")),
)
"""Without ``type`` a keyword only constrains its own type: narrowing to those is sound."""
_TYPE_OF = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def _json_type_of(value: Any) -> str:
    return "null" if value is None else _TYPE_OF.get(type(value), "")


def _admits(types: list[str], value: Any) -> bool:
    kind = _json_type_of(value)
    return (
        kind in types
        or (kind == "integer" and "number" in types)
        or (kind == "number" and "integer" in types and float(value).is_integer())
    )


class SchemaConverter:
    """Accumulates the rules of one grammar; ``visit`` adds a schema's and names it."""

    def __init__(self, limits: SchemaLimits = LIMITS) -> None:
        self.limits = limits
        self._rules: dict[str, str] = {}
        self._by_body: dict[str, str] = {}
        self._memo: dict[tuple[int, str], str] = {}
        self._refs: dict[tuple[int, str], str] = {}
        self._open_refs: dict[tuple[int, str], int] = {}
        self._nesting = 0
        self._used: set[str] = set()
        self._roots: list[dict[str, Any]] = []
        self.repetitions = 0
        """Rules llama.cpp generates for bounded repetitions (part of the grammar's cost)."""

    # ------------------------------------------------------------------ rules
    def prim(self, name: str) -> str:
        if name not in self._used:
            self._used.add(name)
            for dep in _DEPENDS.get(name, []):
                self.prim(dep)
        return name

    def _fresh(self, hint: str) -> str:
        base = (re.sub(r"[^a-zA-Z0-9-]+", "-", hint).strip("-") or "r")[-40:].strip("-") or "r"
        name, n = base, 1
        while name in self._rules or name in _PRIMITIVES or name in ("root", "call", "block"):
            n += 1
            name = f"{base}-{n}"
        return name

    def add(self, hint: str, body: str) -> str:
        """A rule for ``body``; an identical body already present is reused."""
        if body in self._by_body:
            return self._by_body[body]
        name = self._fresh(hint)
        self._rules[name] = body
        self._by_body[body] = name
        return name

    def set_rule(self, name: str, body: str) -> None:
        self._rules[name] = body

    def repeat(self, hint: str, unit: str, lo: int, hi: int | None) -> str | None:
        """``unit{lo,hi}`` as a shared rule (None when it can only be empty)."""
        if hi == 0:
            return None
        self.repetitions += max(lo, hi or 0)
        return self.add(hint, f"{unit}{{{lo},{'' if hi is None else hi}}}")

    def render(self, root_body: str) -> str:
        lines = [f"root ::= {root_body}"]
        lines += [f"{name} ::= {body}" for name, body in self._rules.items()]
        lines += [f"{name} ::= {_PRIMITIVES[name]}" for name in sorted(self._used)]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ visiting
    def add_root(self, schema: dict[str, Any]) -> int:
        """Register a document whose ``$ref``s resolve against ``schema``; its root index."""
        self._roots.append(schema)
        return len(self._roots) - 1

    def visit(self, schema: Any, root: int, path: str, inlined: int = 0) -> str:
        """The name of a rule matching exactly the JSON texts valid under ``schema``
        (within the grammar's subset)."""
        if schema is True or schema == {}:
            return self.prim("value")
        if schema is False:
            raise schema_error(path, "schema `false` admits no value")
        key = (root, json.dumps(schema, separators=(",", ":")))
        if key not in self._memo:
            self._memo[key] = self._build(schema, root, path, inlined)
        return self._memo[key]

    def _inline(self, schema: Any, root: int, path: str, inlined: int) -> str:
        if inlined >= self.limits.max_ref_expansions:
            raise schema_error(
                path, f"$ref/allOf inlining deeper than the limit of {self.limits.max_ref_expansions} (circular allOf?)"
            )
        return self.visit(schema, root, path, inlined + 1)

    def _resolved(self, part: Any, root: int, path: str) -> Any:
        if isinstance(part, dict) and "$ref" in part:
            target = resolve(self._roots[root], part["$ref"], path)
            rest = constraining({k: v for k, v in part.items() if k != "$ref"})
            if not rest or target is False:
                return target
            return {"allOf": [target, rest]}
        return part

    def _ref(self, ref: str, root: int, path: str) -> str:
        key = (root, ref)
        if key in self._open_refs and self._open_refs[key] == self._nesting:
            raise schema_error(path, f"$ref {json.dumps(ref)} refers to itself without an enclosing object or array")
        if key not in self._refs:
            name = self._fresh(f"ref-{ref.rsplit('/', 1)[-1]}")
            self._refs[key] = name
            self._rules[name] = ""  # reserved: a recursive use refers to it by name
            self._open_refs[key] = self._nesting
            try:
                target = resolve(self._roots[root], ref, path)
                self._rules[name] = self.visit(target, root, path)
            finally:
                del self._open_refs[key]
        return self._refs[key]

    def _build(self, schema: Any, root: int, path: str, inlined: int) -> str:
        if not isinstance(schema, dict):
            raise schema_error(path, "a schema must be a JSON object or a boolean")
        schema = normalize_bounds(constraining(schema))
        if not schema:
            return self.prim("value")
        if "$ref" in schema:
            if len(schema) == 1:
                return self._ref(schema["$ref"], root, path)
            return self._inline(self._resolved(schema, root, path), root, path, inlined)
        if "allOf" in schema:
            merged: dict[str, Any] | None = {k: v for k, v in schema.items() if k != "allOf"}
            for i, part in enumerate(schema["allOf"]):
                part = self._resolved(part, root, f"{path}.allOf.{i}")
                merged = None if part is False or merged is None else merge(merged, {} if part is True else part, path)
            if merged is None:
                raise schema_error(path, "allOf admits no value")
            return self._inline(merged, root, path, inlined)
        if "anyOf" in schema or "oneOf" in schema:
            return self._alternatives(schema, root, path, inlined)
        return self._typed(schema, root, path)

    def _alternatives(self, schema: dict[str, Any], root: int, path: str, inlined: int) -> str:
        if "anyOf" in schema and "oneOf" in schema:
            raise schema_error(path, "`anyOf` together with `oneOf` in one schema is not supported")
        key = "anyOf" if "anyOf" in schema else "oneOf"
        rest = {k: v for k, v in schema.items() if k != key}
        names: list[str] = []
        for i, branch in enumerate(schema[key]):
            where = f"{path}.{key}.{i}"
            if branch is False:
                continue
            if rest:
                branch = self._resolved(branch, root, where)
                if branch is False:
                    continue
                branch = merge(rest, {} if branch is True else branch, where)
                if branch is None:
                    continue
                names.append(self._inline(branch, root, where, inlined))
            else:
                names.append(self.visit(branch, root, where, inlined))
        if not names:
            raise schema_error(path, f"no `{key}` branch admits a value")
        return self.add(path, " | ".join(dict.fromkeys(names)))

    def _typed(self, schema: dict[str, Any], root: int, path: str) -> str:
        kind = schema.get("type")
        types = list(dict.fromkeys(kind if isinstance(kind, list) else [kind])) if kind is not None else None
        if types is None:
            inferred = [t for t, keys in _INFERRED if any(k in schema for k in keys)]
            types = inferred or None
        if "const" in schema or "enum" in schema:
            values = [schema["const"]] if "const" in schema else list(schema["enum"])
            if types is not None:
                values = [v for v in values if _admits(types, v)]
            if not values:
                raise schema_error(path, "`enum`/`const` admits no value of the schema's type")
            return self.add(path, " | ".join(dict.fromkeys(json_literal(v) for v in values)))
        if types is None:
            return self.prim("value")
        if not types:
            raise schema_error(path, "an empty `type` list admits no value")
        if len(types) > 1:
            alts = [self.visit({**schema, "type": t}, root, f"{path}.{t}") for t in types]
            return self.add(path, " | ".join(dict.fromkeys(alts)))
        return self._single(types[0], schema, root, path)

    def _single(self, kind: str, schema: dict[str, Any], root: int, path: str) -> str:
        if kind in ("boolean", "null"):
            return self.prim(kind)
        if kind == "string":
            return self._string(schema, path)
        if kind in ("integer", "number"):
            return self._number(kind, schema, path)
        self.prim("ws")
        self._nesting += 1  # a $ref reached from here is preceded by "{" or "[": not left-recursive
        try:
            if kind == "array":
                return array_rule(self, schema, root, path)
            return object_rule(self, schema, root, path)
        finally:
            self._nesting -= 1

    def _string(self, schema: dict[str, Any], path: str) -> str:
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if lo == 0 and hi is None:
            return self.prim("string")
        hi = None if hi is None else min(int(hi), self.limits.max_length_bound)
        if hi is not None and hi < lo:
            raise schema_error(path, f"maxLength {hi} is below minLength {lo}")
        chars = self.repeat(f"chars-{lo}-{hi}", self.prim("char"), lo, hi)
        return self.add(f"{path}-string", '"\\"" ' + (chars or "") + ' "\\""')

    def _number(self, kind: str, schema: dict[str, Any], path: str) -> str:
        if not any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return self.prim(kind)
        digits = self.limits.max_integer_digits
        try:
            body = bounded_integer(schema, digits) if kind == "integer" else bounded_number(schema, digits)
        except ValueError as exc:
            raise schema_error(path, str(exc)) from exc
        return self.add(f"{path}-{kind}", body)


def schema_grammar(schema: dict[str, Any], path: str, limits: SchemaLimits = LIMITS) -> tuple[str, int]:
    """A grammar whose ``root`` matches JSON values valid under ``schema``, and its cost."""
    converter = SchemaConverter(limits)
    rule = converter.visit(schema, converter.add_root(schema), path)
    grammar = converter.render(rule)
    return grammar, len(grammar) + converter.repetitions
