"""Grammars for tool calls and structured outputs.

* ``tool_choice`` ``any``/``tool``: the whole reply is constrained to one (or, when
  parallel use is allowed, several) ``<tool_call>`` blocks for the allowed tools.
* ``auto``: a *lazy* grammar, triggered when the model writes ``<tool_call>``;
  free text before that is unconstrained, and once triggered the call's JSON is
  valid for the named tool's schema by construction.
* Structured outputs: the reply is one JSON value valid under the schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from epistula.protocol.tools import Tool

from .json_schema import SchemaConverter, literal

TRIGGER = "<tool_call>"


@dataclass(frozen=True, slots=True)
class Constraint:
    grammar: str
    triggers: tuple[str, ...] = ()
    """Empty: constrain from the first token. Otherwise a lazy grammar that starts at the
    first occurrence of any trigger string."""


def _call_rule(converter: SchemaConverter, tool: Tool, index: int) -> str:
    schema = tool.input_schema.model_dump(exclude_none=True)
    schema.pop("$schema", None)
    hint = f"tool{index}"
    args = converter.visit(schema, hint)
    name = literal(f'{{"name": {json.dumps(tool.name)}, "arguments": ')
    return f'{name} {args} "}}"'


def tool_call_grammar(tools: list[Tool], *, parallel: bool, lazy: bool) -> Constraint:
    converter = SchemaConverter({})
    calls = [converter._add(f"call-{i}", _call_rule(converter, t, i)) for i, t in enumerate(tools)]
    converter._rules["call"] = " | ".join(calls)
    block = f'{literal(TRIGGER + chr(10))} call {literal(chr(10) + "</tool_call>")}'
    converter._rules["block"] = block
    repeat = ' (ws "\\n" block)*' if parallel else ""
    converter._prim("ws")
    grammar = converter.grammar_with_root(f"block{repeat}")
    return Constraint(grammar=grammar, triggers=(TRIGGER,) if lazy else ())


def json_output_grammar(schema: dict[str, object]) -> Constraint:
    converter = SchemaConverter(dict(schema))
    return Constraint(grammar=converter.grammar())


THINK_CLOSE = "</think>"


def json_after_thinking_grammar(schema: dict[str, object]) -> Constraint:
    """Free thinking, then (lazily, from the model's ``</think>``) one JSON value valid under
    the schema: structured outputs for a model whose output starts inside ``<think>``."""
    converter = SchemaConverter(dict(schema))
    answer = converter.visit(dict(schema), "answer")
    converter._rules["answer"] = answer
    grammar = converter.grammar_with_root(f'{literal(THINK_CLOSE)} [ \\t\\n]* answer')
    return Constraint(grammar=grammar, triggers=(THINK_CLOSE,))
