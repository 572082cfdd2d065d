"""Images through llama.cpp's multimodal library (libmtmd) and a vision projector (mmproj).

An image becomes prompt parts (:meth:`Projector.layout`): the text the model's projector
wraps around it (``<fake_token_around_image>``, row and column tags...) as token ids, and
one or more embedding runs of known length. The layout is computed wherever the prompt is
prepared (libmtmd's preprocessing only; safe on any thread, as llama-server does), so
``count_tokens`` and ``usage`` count image tokens exactly. The heavy part, running the
vision encoder, happens on the projector's own encoder thread, off the scheduler's steps:
when a prefill reaches an image run, :meth:`Projector.decode` starts the encoding of that
run and the image's later runs (tiles) and returns; the other streams go on decoding, and
a later step, once the encoder is done, decodes the embeddings into the sequence.

Only projectors whose image tokens take one position each are served (M-RoPE models such
as Qwen2-VL place an image on a 2-D grid of positions, which this engine's flat prompt
positions cannot express); they are refused when the engine starts.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from llama_cpp import llama_cpp as ll
from llama_cpp import mtmd_cpp as mtmd

from epistula.engines.base import EngineError, ImageEmbedding, PromptImage, PromptPart, TextIds
from epistula.engines.llamacpp.native import NativeContext, NativeModel, once
from epistula.engines.llamacpp.native import _log_callback as log_callback

log = logging.getLogger(__name__)


class ImageUnreadable(EngineError):
    """libmtmd could not decode or preprocess the image."""


class ImageDecodeFailed(EngineError):
    """``llama_decode`` refused the image's embeddings (usually: no free KV cells); the
    sequence may hold some of them, from ``n_past`` on."""


_NO_CALLBACK = mtmd.mtmd_helper_post_decode_callback()
"""A NULL post-decode callback: the embeddings go straight into the sequence."""
MAX_ENCODED = 64
"""Encoded image runs kept for their decode; past this, the oldest finished ones are
dropped (a cancelled request's, usually) and would be encoded again if still wanted."""


@dataclass(slots=True)
class _Encoded:
    """One image run's encoder output: its own copy of the chunk and its embeddings."""

    chunk: Any
    embeddings: ctypes.Array[ctypes.c_float]

    def free(self) -> None:
        if self.chunk is not None:
            mtmd.mtmd_input_chunk_free(self.chunk)
            self.chunk = None


@once
def _route_logs() -> None:
    """Send libmtmd's own log lines (encoding timings...) to :mod:`logging`, like llama.cpp's."""
    setter: Any = getattr(mtmd._libmtmd, "mtmd_log_set", None)
    if setter is not None:
        setter.argtypes = [ll.llama_log_callback, ctypes.c_void_p]
        setter.restype = None
        setter(log_callback, ctypes.c_void_p(0))


class Projector:
    """One vision projector bound to one loaded text model."""

    def __init__(self, path: str, model: NativeModel, *, n_threads: int) -> None:
        _route_logs()
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = False
        params.print_timings = False
        params.n_threads = n_threads
        params.warmup = False
        handle = mtmd.mtmd_init_from_file(path.encode(), model.handle, params)
        if not handle:
            raise EngineError(f"could not load the vision projector {path!r} for this model")
        self._handle: mtmd.mtmd_context_p | None = handle
        self._held: tuple[bytes, Any] | None = None
        """The encoder thread's chunks of its last image (only that thread touches it)."""
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="vision-encoder")
        self._encoded: OrderedDict[tuple[bytes, int], Future[_Encoded]] = OrderedDict()
        """Encodings by (image digest, run), started and taken by the scheduler's thread."""
        self._n_embd = int(ll.llama_model_n_embd_inp(model.handle))
        if not mtmd.mtmd_support_vision(handle):
            self.free()
            raise EngineError(f"{path!r} is not a vision projector (it has no image encoder)")
        if mtmd.mtmd_decode_use_mrope(handle):
            self.free()
            raise EngineError(f"{path!r} places images on a grid of positions (M-RoPE): not supported by epistula")
        self._marker: bytes = mtmd.mtmd_default_marker()
        self.path = path
        try:
            self.layout(None)  # a projector that does not fit the model fails now, not per request
        except EngineError as exc:
            self.free()
            raise EngineError(f"the vision projector {path!r} does not fit this model: {exc}") from None

    def _tokenize(self, data: bytes | None) -> Any:
        """The chunks (text and image) of the encoded image ``data`` (None: an 8x8 black
        probe); the caller frees them."""
        handle = self._live()
        if data is None:
            bitmap = mtmd.mtmd_bitmap_init(8, 8, (ctypes.c_uint8 * (8 * 8 * 3))())
        else:
            buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(handle, buffer, len(data), False)
        if not bitmap:
            raise ImageUnreadable("the image could not be decoded")
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text(
                text=self._marker, text_len=len(self._marker), add_special=False, parse_special=True
            )
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            status = mtmd.mtmd_tokenize(handle, chunks, ctypes.byref(text), bitmaps, 1)
        finally:
            mtmd.mtmd_bitmap_free(bitmap)  # the chunks hold their own preprocessed copies
        if status != 0:
            mtmd.mtmd_input_chunks_free(chunks)
            raise ImageUnreadable(f"the image could not be preprocessed (libmtmd status {status})")
        return chunks

    @contextmanager
    def _chunks(self, data: bytes | None) -> Iterator[Any]:
        """The image's chunks, freed on exit."""
        chunks = self._tokenize(data)
        try:
            yield chunks
        finally:
            mtmd.mtmd_input_chunks_free(chunks)

    def _held_chunks(self, data: bytes) -> Any:
        """The encoder's chunks of ``data``, kept until another image comes: an image cut into
        tiles is preprocessed once for all its embedding runs, not once per run."""
        if self._held is not None and self._held[0] == data:
            return self._held[1]
        self._release_held()
        chunks = self._tokenize(data)
        self._held = (data, chunks)
        return chunks

    def _release_held(self) -> None:
        if self._held is not None:
            mtmd.mtmd_input_chunks_free(self._held[1])
            self._held = None

    def layout(self, data: bytes | None) -> tuple[PromptPart, ...]:
        """What the image puts into a prompt: wrapper text ids and embedding runs, in order
        (``None``: a small probe image)."""
        parts: list[PromptPart] = []
        with self._chunks(data) as chunks:
            images = 0
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                kind = mtmd.mtmd_input_chunk_get_type(chunk)
                if kind == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    size = ctypes.c_size_t(0)
                    tokens = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(size))
                    ids = tuple(int(tokens[k]) for k in range(size.value)) if tokens else ()
                    if any(t < 0 for t in ids):
                        raise EngineError("the projector wraps images in tokens this model does not have")
                    if ids:
                        parts.append(TextIds(ids=ids))
                    continue
                if kind != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                    raise ImageUnreadable("the projector made a non-image chunk from an image")
                n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
                if mtmd.mtmd_input_chunk_get_n_pos(chunk) != n_tokens:
                    raise ImageUnreadable("this projector places images on a position grid (M-RoPE): not supported")
                parts.append(ImageEmbedding(chunk=images, n_tokens=n_tokens))
                images += 1
        return tuple(parts)

    def _encode(self, data: bytes, chunk: int) -> _Encoded:
        """Run the vision encoder on image chunk ``chunk`` of ``data`` (the encoder thread)."""
        handle = self._live()
        chunks = self._held_chunks(data)
        found = None
        seen = 0
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            candidate = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(candidate) == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                if seen == chunk:
                    found = candidate
                    break
                seen += 1
        if found is None:
            raise EngineError(f"image chunk {chunk} not found")
        status = mtmd.mtmd_encode_chunk(handle, found)
        if status != 0:
            raise EngineError(f"the vision encoder failed (status {status})")
        n_floats = mtmd.mtmd_input_chunk_get_n_tokens(found) * self._n_embd
        embeddings = (ctypes.c_float * n_floats)()
        ctypes.memmove(embeddings, mtmd.mtmd_get_output_embd(handle), ctypes.sizeof(embeddings))
        return _Encoded(chunk=mtmd.mtmd_input_chunk_copy(found), embeddings=embeddings)

    def _start(self, image: PromptImage, wake: Callable[[], None]) -> None:
        key = (image.digest, image.chunk)
        if key in self._encoded:
            return
        future = self._encoder.submit(self._encode, image.data, image.chunk)
        future.add_done_callback(lambda _: wake())
        self._encoded[key] = future
        while len(self._encoded) > MAX_ENCODED:
            old = next((k for k, f in self._encoded.items() if f.done() and k != key), None)
            if old is None:
                break
            self._drop(old)

    def _drop(self, key: tuple[bytes, int]) -> None:
        future = self._encoded.pop(key)
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().free()

    def decode(
        self,
        ctx: NativeContext,
        images: tuple[PromptImage, ...],
        image: PromptImage,
        n_past: int,
        seq_id: int,
        n_batch: int,
        wake: Callable[[], None],
    ) -> int | None:
        """Decode embeddings of run ``image`` (one of the prompt's ``images``) into sequence
        ``seq_id`` from position ``n_past`` (the run's start or a position in it), at most
        ``n_batch`` of them (the whole run for projectors that attend across it
        non-causally); returns the position after them. When the run is not encoded yet,
        starts encoding it (and the same image's later runs) on the encoder thread and
        returns None at once; ``wake`` is called when one is done."""
        key = (image.digest, image.chunk)
        future = self._encoded.get(key)
        if future is None or not future.done():
            for run in images:
                if run.digest == image.digest and run.chunk >= image.chunk:
                    self._start(run, wake)
            return None
        try:
            encoded = future.result()
        except EngineError:
            self._encoded.pop(key)
            raise
        if mtmd.mtmd_decode_use_non_causal(self._live(), encoded.chunk):
            pos = self._decode_whole(ctx, encoded, n_past, seq_id, image.length)
        else:
            count = min(n_batch, image.start + image.length - n_past)
            pos = self._decode_slice(ctx, encoded, n_past - image.start, count, n_past, seq_id)
        if pos >= image.start + image.length:
            self._drop(key)
        return pos

    def _decode_whole(self, ctx: NativeContext, encoded: _Encoded, n_past: int, seq_id: int, n_batch: int) -> int:
        after = ll.llama_pos(0)
        status = mtmd.mtmd_helper_decode_image_chunk(
            self._live(), ctx.handle, encoded.chunk, encoded.embeddings, n_past, seq_id, n_batch,
            ctypes.byref(after), _NO_CALLBACK, None,
        )  # fmt: skip
        if status != 0:  # kept: read again once the cache has room
            raise ImageDecodeFailed(f"decoding the image embeddings failed (status {status})")
        return int(after.value)

    def _decode_slice(
        self, ctx: NativeContext, encoded: _Encoded, offset: int, count: int, n_past: int, seq_id: int
    ) -> int:
        """Embeddings ``offset`` to ``offset + count`` of a run into the sequence at ``n_past``."""
        batch = ll.llama_batch_init(count, self._n_embd, 1)
        try:
            width = self._n_embd * ctypes.sizeof(ctypes.c_float)
            ctypes.memmove(batch.embd, ctypes.addressof(encoded.embeddings) + offset * width, count * width)
            for i in range(count):
                batch.pos[i] = n_past + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq_id
                batch.logits[i] = 0
            batch.n_tokens = count
            status = ll.llama_decode(ctx.handle, batch)
        finally:
            ll.llama_batch_free(batch)
        if status != 0:  # kept: read again once the cache has room
            raise ImageDecodeFailed(f"decoding the image embeddings failed (status {status})")
        return n_past + count

    def _live(self) -> mtmd.mtmd_context_p:
        if self._handle is None:
            raise EngineError("vision projector closed")
        return self._handle

    def free(self) -> None:
        self._encoder.shutdown(wait=True, cancel_futures=True)
        for key in list(self._encoded):
            self._drop(key)
        self._release_held()
        if self._handle is not None:
            mtmd.mtmd_free(self._handle)
            self._handle = None


def image_at(images: tuple[PromptImage, ...], pos: int) -> PromptImage | None:
    """The image run that prompt position ``pos`` is in (its start, or a part way through
    it: a run is decoded in slices), if any."""
    return next((image for image in images if image.start <= pos < image.start + image.length), None)


def text_end(images: tuple[PromptImage, ...], pos: int, end: int) -> int:
    """Where prefilling text from ``pos`` must stop: ``end``, or an image run before it
    (``pos`` itself when it is in one)."""
    if image_at(images, pos) is not None:
        return pos
    return min([end, *(image.start for image in images if pos <= image.start < end)])


def check_runs(images: tuple[PromptImage, ...], prompt_len: int, projector: Projector | None) -> None:
    """Image runs must be served by a projector, lie inside the prompt in order, and leave
    the prompt's last position to text (its logits start the reply)."""
    if images and projector is None:
        raise EngineError("this model has no vision projector: it cannot read images")
    pos = 0
    for image in images:
        if image.start < pos or image.length <= 0 or image.start + image.length >= prompt_len:
            raise EngineError("image runs overlap or reach the end of the prompt")
        pos = image.start + image.length
