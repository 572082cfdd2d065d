"""Integer and number bounds, checked at and around their edges by llama.cpp's grammar
engine: a value is accepted exactly when it satisfies the bounds (integers), or only if
it does (numbers, a sound subset)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from epistula.constraints.ranges import bounded_integer, bounded_number, integer_grammar

from .engine import GrammarEngine

PROFILE = settings(max_examples=60, deadline=None, derandomize=True, database=None)
EDGE = st.one_of(st.integers(-2_000, 2_000), st.integers(-(10**15) + 1, 10**15 - 1), st.sampled_from([2.5, -2.5, 0.5]))
KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def satisfies(schema: dict[str, Any], x: float) -> bool:
    return (
        x >= schema.get("minimum", -float("inf"))
        and x <= schema.get("maximum", float("inf"))
        and x > schema.get("exclusiveMinimum", -float("inf"))
        and x < schema.get("exclusiveMaximum", float("inf"))
    )


def probes(schema: dict[str, Any]) -> set[int]:
    near = {int(v) + d for v in schema.values() for d in (-2, -1, 0, 1, 2)}
    return {x for x in near | {0, 1, -1} if abs(x) < 10**15}


@st.composite
def bound_schemas(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, unique=True))
    return {k: draw(EDGE) for k in keys}


@PROFILE
@given(schema=bound_schemas())
def test_integer_bounds_accept_exactly_the_integers_within(engine: GrammarEngine, schema: dict[str, Any]) -> None:
    try:
        grammar = f"root ::= {bounded_integer(schema)}\n"
    except ValueError:
        assert not any(satisfies(schema, x) for x in probes(schema))
        return
    for x in probes(schema):
        assert engine.accepts(grammar, str(x)) == satisfies(schema, x), (schema, x)


@PROFILE
@given(schema=bound_schemas())
def test_number_bounds_accept_only_numbers_within(engine: GrammarEngine, schema: dict[str, Any]) -> None:
    try:
        grammar = f"root ::= {bounded_number(schema)}\n"
    except ValueError:
        return
    for x in probes(schema):
        for text in (str(x), f"{x}.5", f"{x}.0", f"{x}.999"):
            if engine.accepts(grammar, text):
                assert satisfies(schema, float(text)), (schema, text)
        if satisfies(schema, x):
            assert engine.accepts(grammar, str(x)), (schema, x)


@PROFILE
@given(lo=st.integers(-(10**6), 10**6), width=st.integers(0, 10**6))
def test_integer_grammar_ranges(engine: GrammarEngine, lo: int, width: int) -> None:
    hi = lo + width
    grammar = f"root ::= {integer_grammar(lo, hi)}\n"
    for x in {lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, (lo + hi) // 2, 0, -1, 10**15}:
        assert engine.accepts(grammar, str(x)) == (lo <= x <= hi), (lo, hi, x)
