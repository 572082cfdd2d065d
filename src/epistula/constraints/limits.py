"""The budgets a JSON Schema must fit before it becomes a grammar.

Every schema that reaches the sampler (a tool's ``input_schema``, ``output_config.format``)
is checked against these before anything is built, and the finished grammar against
``max_grammar_cost``; a violation is a ``400 invalid_request_error`` naming the limit and
the schema path. One frozen model so they can become settings later.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SchemaLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_schema_bytes: int = 65_536
    """Serialized size of one schema (compact JSON, UTF-8)."""
    max_depth: int = 32
    """Nesting of subschemas (``properties``/``items``/``anyOf``/``$defs``... one level each)."""
    max_properties: int = 1_000
    """``properties`` entries summed over the whole schema."""
    max_enum_values: int = 1_000
    """Values of one ``enum``."""
    max_alternatives: int = 256
    """Branches of one ``anyOf``/``oneOf``, entries of one ``type`` list or ``prefixItems``."""
    max_items_bound: int = 256
    """Largest ``minItems`` honoured; a larger ``minItems`` is a 400, a larger ``maxItems`` is
    lowered to this (the grammar then accepts fewer items than the schema would)."""
    max_length_bound: int = 4_096
    """Largest ``minLength`` honoured; the same rule for ``maxLength``."""
    max_integer_digits: int = 15
    """Digits of a generated integer (and of a number's integer part). A bound beyond
    ``10**digits - 1`` in magnitude is looser than what the grammar can produce and is
    dropped; a lower bound above it (or upper bound below its negative) is a 400."""
    max_ref_expansions: int = 64
    """``allOf`` parts and ``$ref`` siblings are merged by inlining their targets; an inlining
    chain longer than this (a self-referencing ``allOf``) is a 400. Plain recursive ``$ref``s
    need no inlining: they become a rule that references itself."""
    max_grammar_cost: int = 1_000_000
    """The built grammar's size: its text length plus the rules llama.cpp expands for each
    bounded repetition (``x{m,n}`` costs ``max(m, n)`` rules)."""


LIMITS = SchemaLimits()
