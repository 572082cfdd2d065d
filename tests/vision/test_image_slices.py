"""The vision encoder runs on the projector's own thread, and an image run's embeddings are
decoded in slices (so a running stream waits for one slice, not the whole image): the
projector level, with no scheduler, and an engine serving an image request while another
stream decodes."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

from epistula.engines.base import Finished, GenerationRequest, PromptImage, SamplingParams, image_ids
from epistula.engines.llamacpp.engine import LlamaCppEngine
from epistula.engines.llamacpp.native import NativeBatch, NativeContext, NativeModel
from epistula.engines.llamacpp.vision import Projector, image_at, text_end

from .projector import IMAGE_TOKENS, build_projector, png
from .test_image_kv_growth import SMOLLM2


def test_positions_inside_an_image_run() -> None:
    run = PromptImage(data=b"", digest=b"d" * 32, chunk=0, start=5, length=16)
    assert image_at((run,), 4) is None
    assert image_at((run,), 5) is image_at((run,), 20) is run
    assert image_at((run,), 21) is None
    assert text_end((run,), 0, 30) == 5
    assert text_end((run,), 9, 30) == 9  # part way through the image: no text to prefill
    assert text_end((run,), 21, 30) == 30


def test_encoded_off_the_caller_and_decoded_in_slices(tmp_path: Path) -> None:
    model = NativeModel(SMOLLM2)
    ctx = NativeContext(model, n_ctx=256, n_seq_max=1, n_batch=64, n_threads=1, kv_unified=True)
    projector = Projector(str(build_projector(tmp_path / "p.gguf")), model, n_threads=1)
    try:
        batch = NativeBatch(8)
        batch.add_run(model.tokenize("Look:"), 0, 0)
        start = batch.n_tokens
        assert ctx.decode(batch) == 0
        data = png(12, 12, seed=7)
        run = PromptImage(data=data, digest=hashlib.sha256(data).digest(), chunk=0, start=start, length=IMAGE_TOKENS)
        encoded = threading.Event()
        assert projector.decode(ctx, (run,), run, start, 0, 5, encoded.set) is None  # encoding started
        assert encoded.wait(60)
        positions, pos = [], start
        while pos < start + IMAGE_TOKENS:
            next_pos = projector.decode(ctx, (run,), run, pos, 0, 5, encoded.set)
            assert next_pos is not None
            positions.append(next_pos - start)
            pos = next_pos
        assert positions == [5, 10, 15, 16]
        assert ctx.seq_pos_max(0) == start + IMAGE_TOKENS - 1
    finally:
        projector.free()
        batch.free()
        ctx.free()
        model.free()


def test_an_image_request_beside_a_decoding_stream(tmp_path: Path) -> None:
    """With a 4-token prefill chunk, the image (16 tokens) is read in slices while the other
    stream decodes; both finish, and the image request's prompt is all there."""
    mmproj = str(build_projector(tmp_path / "p.gguf"))
    engine = LlamaCppEngine(SMOLLM2, n_ctx=1024, n_seq_max=2, prefill_chunk=4, mmproj=mmproj)

    async def run() -> tuple[Finished, Finished, int]:
        await engine.start()
        try:
            stream = GenerationRequest(
                prompt=tuple(engine.tokenize("Count from one to fifty:")), sampling=SamplingParams(max_tokens=48)
            )
            data = png(20, 20, seed=8)
            digest = hashlib.sha256(data).digest()
            before = engine.tokenize("Look at this:")
            prompt = (*before, *image_ids(digest, 0, IMAGE_TOKENS), *engine.tokenize(" what is it?"))
            image = PromptImage(data=data, digest=digest, chunk=0, start=len(before), length=IMAGE_TOKENS)
            seeing = GenerationRequest(prompt=prompt, sampling=SamplingParams(max_tokens=2), images=(image,))
            first = asyncio.Event()

            async def consume(request: GenerationRequest, signal: asyncio.Event | None) -> Finished:
                async for event in engine.generate(request):
                    if signal is not None:
                        signal.set()
                    if isinstance(event, Finished):
                        return event
                raise AssertionError("no Finished event")

            streaming = asyncio.create_task(consume(stream, first))
            await first.wait()
            seen = await consume(seeing, None)
            return await streaming, seen, len(prompt)
        finally:
            await engine.close()

    streamed, seen, prompt_tokens = asyncio.run(run())
    assert streamed.output_tokens >= 1
    assert seen.prompt_tokens == prompt_tokens
