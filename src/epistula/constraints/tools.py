"""Grammars for tool calls and structured outputs, built once per distinct request shape.

* ``tool_choice`` ``any``/``tool``: the whole reply is constrained to one (or, when
  parallel use is allowed, several) ``<tool_call>`` blocks for the allowed tools.
* ``auto``: a *lazy* grammar, triggered when the model writes ``<tool_call>``;
  free text before that is unconstrained, and once triggered the call's JSON is
  valid for the named tool's schema by construction. A small model that has seen tool
  results in its history often opens ``<tool_response>`` and invents the tool's
  answer; that opener triggers the grammar too, so what follows is a real call.
* Structured outputs: the reply is one JSON value valid under the schema.

Built grammars are kept in a bounded LRU keyed by a hash of (schemas, options), so a
client that sends the same tool set on every turn pays for the build once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from epistula.protocol.tools import Tool

from .gbnf import literal
from .json_schema import SchemaConverter, schema_grammar
from .limits import LIMITS, SchemaLimits
from .schema_check import check_schema, schema_error

TRIGGER = "<tool_call>"
RESPONSE_TRIGGER = "<tool_response>"
"""In ``auto`` mode the model may not write a tool's response itself: one it opens holds
a call instead (the parser reads ``<tool_response>`` blocks as calls)."""
CACHE_SIZE = 128
"""Built grammars kept (least recently used dropped first)."""


@dataclass(frozen=True, slots=True)
class Constraint:
    grammar: str
    triggers: tuple[str, ...] = ()
    """Empty: constrain from the first token. Otherwise a lazy grammar that starts at the
    first occurrence of any trigger string."""


class GrammarCache:
    """A thread-safe LRU of constraints by a hash of what they were built from."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, Constraint] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0
        """How many constraints were built (misses), for tests and metrics."""

    def get(self, key: object, build: Callable[[], Constraint]) -> Constraint:
        digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return self._items[digest]
        constraint = build()
        with self._lock:
            self.builds += 1
            self._items[digest] = constraint
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return constraint


CACHE = GrammarCache()


def tool_schema(tool: Tool) -> dict[str, Any]:
    """A tool's ``input_schema`` as the plain JSON Schema the grammar is built from."""
    schema = tool.input_schema.model_dump()
    schema.pop("$schema", None)
    return schema


def _checked_cost(grammar: str, cost: int, path: str, limits: SchemaLimits) -> str:
    if cost > limits.max_grammar_cost:
        raise schema_error(
            path, f"the grammar for this schema costs {cost}, over the limit of {limits.max_grammar_cost}"
        )
    return grammar


def _build_tools(tools: list[Tool], parallel: bool, lazy: bool, limits: SchemaLimits) -> Constraint:
    converter = SchemaConverter(limits)
    calls = []
    for i, tool in enumerate(tools):
        schema = tool_schema(tool)
        path = f"tools[name={tool.name}].input_schema"
        check_schema(schema, path, limits)
        args = converter.visit(schema, converter.add_root(schema), path)
        head = literal(f'{{"name": {json.dumps(tool.name)}, "arguments": ')
        calls.append(converter.add(f"call-{i}", f'{head} {args} "}}"'))
    converter.set_rule("call", " | ".join(calls))
    blocks = [f"{literal(TRIGGER + chr(10))} call {literal(chr(10) + '</tool_call>')}"]
    if lazy:
        blocks.append(f"{literal(RESPONSE_TRIGGER + chr(10))} call {literal(chr(10) + '</tool_response>')}")
    converter.set_rule("block", " | ".join(blocks))
    converter.prim("ws")
    grammar = converter.render("block" + (' (ws "\\n" block)*' if parallel else ""))
    _checked_cost(grammar, len(grammar) + converter.repetitions, "tools", limits)
    return Constraint(grammar=grammar, triggers=(TRIGGER, RESPONSE_TRIGGER) if lazy else ())


def tool_call_grammar(tools: list[Tool], *, parallel: bool, lazy: bool, limits: SchemaLimits = LIMITS) -> Constraint:
    key = ["tools", [[t.name, tool_schema(t)] for t in tools], parallel, lazy, limits.model_dump()]
    return CACHE.get(key, lambda: _build_tools(tools, parallel, lazy, limits))


def json_output_grammar(
    schema: dict[str, Any], path: str = "output_config.format.schema", limits: SchemaLimits = LIMITS
) -> Constraint:
    """The reply as one JSON value valid under ``schema`` (400 naming ``path`` if the
    schema is over a budget or admits no value)."""

    def build() -> Constraint:
        check_schema(schema, path, limits)
        grammar, cost = schema_grammar(schema, path, limits)
        return Constraint(grammar=_checked_cost(grammar, cost, path, limits))

    return CACHE.get(["json", schema, limits.model_dump()], build)


def check_tool_schemas(tools: list[Any], fmt_schema: dict[str, Any] | None, fmt_path: str) -> None:
    """Validate every custom tool's ``input_schema`` and the output format's schema as
    request fields (paths ``tools.N.input_schema``), building (and caching) their grammars."""
    for i, tool in enumerate(tools):
        if isinstance(tool, Tool):
            json_output_grammar(tool_schema(tool), f"tools.{i}.input_schema")
    if fmt_schema is not None:
        json_output_grammar(fmt_schema, fmt_path)


THINK_CLOSE = "</think>"


def json_after_thinking_grammar(
    schema: dict[str, Any], path: str = "output_config.format.schema", limits: SchemaLimits = LIMITS
) -> Constraint:
    """Free thinking, then (lazily, from the model's ``</think>``) one JSON value valid under
    the schema: structured outputs for a model whose output starts inside ``<think>``."""

    def build() -> Constraint:
        check_schema(schema, path, limits)
        converter = SchemaConverter(limits)
        rule = converter.visit(schema, converter.add_root(schema), path)
        grammar = converter.render(f"{literal(THINK_CLOSE)} [ \\t\\n]* {rule}")
        cost = len(grammar) + converter.repetitions
        return Constraint(grammar=_checked_cost(grammar, cost, path, limits), triggers=(THINK_CLOSE,))

    return CACHE.get(["json-after-thinking", schema, limits.model_dump()], build)
