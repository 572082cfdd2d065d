"""The engine boundary: token ids and sampling parameters in, token events out.

Engines know nothing about the Anthropic protocol. They receive an already
rendered and tokenized prompt, sample under :class:`SamplingParams`, and stream
:class:`TokenEvent` values until a :class:`Finished` event. Stop sequences,
content blocks and usage accounting live above this boundary.

Cancellation: the consumer closes the async iterator (``aclose()``), or simply
stops iterating and lets it be garbage collected; the engine must then free the
sequence within one decoding step.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["eos", "max_tokens", "context_window"]
CacheTTL = Literal["5m", "1h"]


class EngineError(Exception):
    """Generation failed inside the engine (mapped to ``api_error``)."""


class EngineOverloaded(EngineError):
    """The engine's admission queue is full (mapped to ``overloaded_error``)."""


class PromptTooLong(EngineError):
    """The prompt does not fit the context window."""

    def __init__(self, prompt_tokens: int, context_window: int) -> None:
        super().__init__(f"prompt is too long: {prompt_tokens} tokens > {context_window} maximum")
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick each next token. ``temperature == 0`` means greedy."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float = 1.0
    """Repetition penalty over recent output (1.0: off). Engines apply it to sampled text
    only: greedy decoding and strict (non-lazy) grammars are left exact."""
    seed: int | None = None
    grammar: str | None = None
    """A GBNF grammar (root rule ``root``) the output must match, or None."""
    grammar_triggers: tuple[str, ...] = ()
    """When non-empty the grammar is lazy: it applies from the first occurrence of any of
    these strings in the output (free text before it is unconstrained)."""


@dataclass(frozen=True, slots=True)
class CachePoint:
    """A ``cache_control`` breakpoint: the prompt prefix of ``offset`` tokens is kept.

    ``lookback`` is the shortest cached prefix a read for this breakpoint may use:
    the API looks for earlier cache entries only at the block boundaries up to 20
    blocks before the breakpoint, so a prefix cached further back is not a hit.
    """

    offset: int
    ttl: CacheTTL = "5m"
    lookback: int = 0


@dataclass(frozen=True, slots=True)
class TextIds:
    """A prompt part: token ids."""

    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ImageEmbedding:
    """A prompt part: the ``chunk``-th embedding run of an image, ``n_tokens`` positions long."""

    chunk: int
    n_tokens: int


PromptPart = TextIds | ImageEmbedding
"""What an image becomes in a prompt (see :class:`Vision`)."""


@runtime_checkable
class Vision(Protocol):
    """An engine's image reader (a llama.cpp vision projector)."""

    def layout(self, data: bytes) -> tuple[PromptPart, ...]:
        """The prompt parts of the encoded image ``data``, in order; raises
        :class:`EngineError` when the image cannot be decoded. Safe on any thread."""
        ...


@dataclass(frozen=True, slots=True)
class PromptImage:
    """One image embedding run inside a prompt: the prompt's positions ``start`` to
    ``start + length`` hold stand-in ids (:func:`image_ids`), and an engine that sees decodes
    chunk ``chunk`` of the image ``data`` there instead (an image may make several chunks)."""

    data: bytes = field(repr=False)
    """The encoded image file (PNG, JPEG, GIF or WebP)."""
    digest: bytes
    """SHA-256 of ``data``: the image's identity in prefix reuse."""
    chunk: int
    start: int
    length: int


def image_ids(digest: bytes, chunk: int, length: int) -> tuple[int, ...]:
    """The stand-in ids of an image chunk: negative int32s (never a vocabulary id), each drawn
    from the image bytes' digest, so prompts with different images part at the image, and
    prompts with the same image share its cells, in every prefix comparison."""
    stream = hashlib.shake_128(digest + chunk.to_bytes(4, "big")).digest(4 * length)
    return tuple(-1 - (value % 0x7FFFFFFF) for (value,) in struct.iter_unpack(">I", stream))


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    prompt: tuple[int, ...]
    sampling: SamplingParams
    request_id: str = ""
    cache_namespace: str = ""
    """Prefix reuse never crosses namespaces (one per workspace)."""
    cache_points: tuple[CachePoint, ...] = ()
    """Prompt caching breakpoints, ascending by offset, each ``0 < offset < len(prompt)``.
    With any, the engine's first event is :class:`PromptCacheUsage`; with
    ``max_tokens == 0`` it still prefills and writes them (cache pre-warming)."""
    priority: int = 0
    """Lower runs first; batch work uses a higher number than live traffic."""
    images: tuple[PromptImage, ...] = ()
    """Image runs of ``prompt``, ascending by ``start`` (only engines with a projector)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One generated token. ``piece`` is raw bytes: a UTF-8 character may span tokens."""

    id: int
    piece: bytes


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """Emitted while a long prompt is prefilled (lets the server send keep-alives)."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    """Prompt tokens whose KV state was reused rather than computed."""


@dataclass(frozen=True, slots=True)
class PromptCacheUsage:
    """How the prompt splits for billing, decided when the request is admitted.

    Sent first (before any prefill) for requests with cache points, so that the
    stream's ``message_start`` can carry exact cache usage. ``read`` tokens come
    from a breakpoint cache entry and are not prefilled; the ``creation`` tokens
    are prefilled and written to the cache; the rest of the prompt is uncached
    input (even when automatic prefix reuse skips part of it).
    """

    read: int = 0
    creation_5m: int = 0
    creation_1h: int = 0

    @property
    def creation(self) -> int:
        return self.creation_5m + self.creation_1h


TokenEvent = Token | PromptProgress | Finished | PromptCacheUsage


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A snapshot for ``/metrics``: gauges now, counters since start."""

    queue_depth: int = 0
    """Requests waiting for a sequence slot."""
    active_sequences: int = 0
    prompt_tokens_reused: int = 0
    """Prompt tokens whose KV state was reused (prefix or prompt cache), since start."""
    prompt_tokens_prefilled: int = 0
    """Prompt tokens computed, since start."""
    routed_requests: int = 0
    """Requests routed among several upstreams (the remote engine), since start."""
    routed_prefix_hits: int = 0
    """Of those, requests sent to the upstream that held their prompt's prefix."""


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the layers above need to know about the loaded model."""

    name: str
    context_window: int
    chat_template: str
    bos_token: str = ""
    eos_token: str = ""
    eog_token_ids: frozenset[int] = field(default_factory=frozenset)
    vocab_size: int = 0
    supports_grammar: bool = False
    control_tokens: frozenset[str] = field(default_factory=frozenset)
    """The text of every control token (``<|im_start|>``...): markup only the chat template
    may produce. Tokenized with ``special=False``, such text stays plain text."""


@runtime_checkable
class Engine(Protocol):
    """An inference backend. Implementations: ``fake``, ``llamacpp``, ``remote`` and ``vllm``."""

    @property
    def facts(self) -> ModelFacts: ...

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Tokenize prompt text, no BOS added. With ``special`` control-token markup
        (``<|im_start|>``) becomes control tokens; without it, it is plain text.
        Safe to call from any thread, also while the engine decodes."""
        ...

    def detokenize(self, ids: list[int]) -> str: ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        """Stream tokens for one sequence; raise :class:`PromptTooLong` or
        :class:`EngineOverloaded` before the first event when they apply."""
        ...

    def stats(self) -> EngineStats:
        """Cheap and non-blocking: called on every metrics scrape."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
