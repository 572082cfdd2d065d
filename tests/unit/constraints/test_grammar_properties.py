"""Property tests of the JSON Schema -> GBNF converter against llama.cpp's own grammar
engine over the real SmolLM2 vocabulary:

1. every text the grammar lets the sampler produce parses as JSON valid under the schema;
2. every valid instance (written as the grammar writes JSON) is accepted token by token.
"""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from epistula.constraints.json_schema import schema_grammar

from .engine import LOG, GrammarEngine
from .schemas import instance, schemas

PROFILE = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    draft4 = "exclusiveMinimum" in json.dumps(schema) and ": true" in json.dumps(schema)
    cls = jsonschema.Draft4Validator if draft4 else jsonschema.Draft202012Validator
    return cls(schema)


def draft4_free(schema: dict[str, Any]) -> bool:
    """Draft 4's boolean ``exclusiveMinimum`` only in schemas Draft4Validator also reads
    (no ``$defs``/``const``/``prefixItems``)."""
    text = json.dumps(schema)
    return '"exclusiveMinimum": true' not in text or not any(k in text for k in ("$defs", "const", "prefixItems"))


@PROFILE
@given(schema=schemas().filter(draft4_free), seed=st.integers(0, 2**32 - 1))
def test_every_sampled_text_is_valid(engine: GrammarEngine, schema: dict[str, Any], seed: int) -> None:
    grammar, _ = schema_grammar(schema, "schema")
    note(f"schema: {json.dumps(schema)}\n{grammar}")
    rng = random.Random(seed)
    check = validator(schema)
    for _ in range(3):
        text = engine.sample(grammar, rng)
        if text is None:
            continue
        value = json.loads(text)
        errors = [e.message for e in check.iter_errors(value)]
        assert not errors, f"grammar produced {text!r}, invalid: {errors}\nschema: {json.dumps(schema)}\n{grammar}"


@PROFILE
@given(schema=schemas().filter(draft4_free), data=st.data())
def test_every_valid_instance_is_accepted(engine: GrammarEngine, schema: dict[str, Any], data: st.DataObject) -> None:
    grammar, _ = schema_grammar(schema, "schema")
    check = validator(schema)
    for _ in range(2):
        value = data.draw(st.composite(lambda draw: instance(draw, schema, schema))())
        errors = [e.message for e in check.iter_errors(value)]
        assert not errors, f"test generator made an invalid instance {value!r}: {errors}"
        text = json.dumps(value, ensure_ascii=False)
        if not engine.spells(text):
            continue  # a character SmolLM2's vocabulary cannot write (e.g. U+40000)
        assert engine.accepts(grammar, text), (
            f"grammar rejected valid {text!r}\nschema: {json.dumps(schema)}\n{grammar}"
        )


def test_llama_logged_no_grammar_error() -> None:
    assert not [line for line in LOG if "grammar" in line.lower()]
