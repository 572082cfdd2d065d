"""The real tokenizers the suite can load: SmolLM2-135M-Instruct (the default model) and
Gemma 3 270M (the ``gemma`` extra), each as a served model of a catalogue, the way the server
builds it, but with an engine that is never started: tokenizing and detokenizing only load
the vocabulary and the (memory-mapped) weights, no context. Loaded once per process."""

from __future__ import annotations

from functools import cache

import pytest

from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.engines.llamacpp.native import NativeModel
from epistula.models.catalog import Catalog, ServedModel, make_template
from real_parts import GEMMA_ID, gemma_config, gemma_gguf, needs_gemma, smollm2_gguf

KINDS = [pytest.param("smollm2", id="smollm2"), pytest.param("gemma", id="gemma", marks=needs_gemma)]
CLAUDE_ALIAS = "claude-opus-5-5"
"""The model Claude Code asks for (tests/features/claude_code.py)."""


@cache
def served_model(kind: str) -> ServedModel:
    if kind == "smollm2":
        engine = LlamaCppEngine(str(smollm2_gguf()), n_threads=1)
        template = make_template(engine, None)  # the GGUF's own chat template
    else:
        engine = LlamaCppEngine(str(gemma_gguf()), n_threads=1)
        template = make_template(engine, gemma_config().chat_template)  # the GGUF has none
    model_id = GEMMA_ID if kind == "gemma" else kind
    return ServedModel(
        id=model_id,
        display_name=kind,
        engine=engine,
        template=template,
        max_output_tokens=128000,
        created_at="2026-01-01T00:00:00Z",
    )


def catalog_of(kind: str) -> Catalog:
    model = served_model(kind)
    catalog = Catalog()
    catalog.add(model)
    catalog.alias(CLAUDE_ALIAS, model.id)
    return catalog


@cache
def native_model(kind: str) -> NativeModel:
    """The vocabulary the engine decodes with (``NativeModel.piece``: control tokens empty)."""
    return NativeModel(str(smollm2_gguf() if kind == "smollm2" else gemma_gguf()))
