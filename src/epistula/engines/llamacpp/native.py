"""Thin typed wrappers over llama-cpp-python's low-level ctypes bindings.

Only the C API is used (``llama_cpp.llama_cpp``); the high-level ``Llama``
class samples in Python and is several times slower for batched decoding.

Thread model: :class:`NativeModel` only touches the model and its vocabulary,
which llama.cpp treats as read-only after loading, so its helpers (tokenize,
pieces, sampler construction) may be called from any thread. A
:class:`NativeContext` and its :class:`NativeBatch` must stay on one thread
(the engine's worker).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import llama_cpp.llama_cpp as ll
import numpy as np

from epistula.engines.base import EngineError, ModelFacts, SamplingParams

log = logging.getLogger(__name__)

REPEAT_LAST_N = 64
"""Output tokens the repetition penalty looks back over (llama.cpp's default)."""

_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
"""ggml_log_level -> logging level. llama.cpp's INFO chatter (model dump, context
setup) is demoted to DEBUG; warnings and errors keep their level."""
_GGML_LOG_CONT = 5
_last_level = [logging.DEBUG]


@ll.llama_log_callback  # type: ignore[untyped-decorator]
def _log_callback(level: int, text: bytes, _user_data: object) -> None:
    """Route llama.cpp's log lines into :mod:`logging` instead of raw stderr."""
    py_level = _last_level[0] if level == _GGML_LOG_CONT else _LEVELS.get(level, logging.DEBUG)
    _last_level[0] = py_level
    if log.isEnabledFor(py_level):
        message = text.decode("utf-8", errors="replace").rstrip()
        if "grammar" in message:
            # llama.cpp quotes the whole grammar (built from a client's schema) in these
            # lines: the fact is logged, never the text.
            message = "llama.cpp could not use a request's grammar (its text is not logged)"
        if message:
            log.log(py_level, "%s", message)


def once(setup: Callable[[], None]) -> Callable[[], None]:
    """``setup`` made to run on its first call only, per process; threads that call while
    it runs wait for it (a failed run is tried again by the next call)."""
    lock = threading.Lock()
    done = False

    @functools.wraps(setup)
    def run() -> None:
        nonlocal done
        with lock:
            if not done:
                setup()
                done = True

    return run


@once
def _init_backend() -> None:
    """Initialise ggml once per process and install the log router."""
    ll.llama_log_set(_log_callback, ctypes.c_void_p(0))
    ll.llama_backend_init()


class SamplerChain:
    """A native ``llama_sampler`` chain owned by exactly one sequence, or none at all for
    plain greedy decoding (temperature 0, no grammar): that is an argmax over the logits
    row, taken in numpy (~9 us for SmolLM2's 49,152 logits), where ``llama_sampler_sample``
    first copies every logit into a candidate array (60-125 us, once per sequence per step:
    ~2% of a 16-stream step, more of a one-stream one). Both pick the first maximum."""

    __slots__ = ("greedy", "handle")

    def __init__(self, handle: int | None, *, greedy: bool = False) -> None:
        self.handle: int | None = handle
        self.greedy = greedy

    def free(self) -> None:
        """Release the chain (idempotent); the chain owns the samplers added to it."""
        if self.handle is not None:
            ll.llama_sampler_free(self.handle)
            self.handle = None


class NativeModel:
    """A loaded GGUF model plus the vocabulary helpers that need no context."""

    def __init__(self, path: str, *, vocab_only: bool = False) -> None:
        _init_backend()
        params = ll.llama_model_default_params()
        params.n_gpu_layers = 0
        params.vocab_only = vocab_only  # tokenizer and metadata only (a remote engine's)
        handle = ll.llama_model_load_from_file(path.encode(), params)
        if not handle:
            raise EngineError(f"could not load model {path!r}")
        self.handle: int | None = handle
        self.vocab = ll.llama_model_get_vocab(handle)
        self.vocab_size: int = ll.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train: int = ll.llama_model_n_ctx_train(handle)
        self.eog_ids: frozenset[int] = frozenset(
            t for t in range(self.vocab_size) if ll.llama_vocab_is_eog(self.vocab, t)
        )
        self.control_texts: frozenset[str] = frozenset(
            text
            for t in range(self.vocab_size)
            if ll.llama_vocab_is_control(self.vocab, t) and (text := self.token_text(t))
        )
        self._pieces: dict[int, bytes] = {}

    # -- metadata ---------------------------------------------------------

    def facts(self, name: str, context_window: int) -> ModelFacts:
        """What the serving layers need to know of this model, served under ``name`` with
        ``context_window`` tokens (the llama.cpp engine's and the remote engine's alike)."""
        return ModelFacts(
            name=name,
            context_window=context_window,
            chat_template=self.chat_template(),
            bos_token=self.token_text(self.bos_token()),
            eos_token=self.token_text(self.eos_token()),
            eog_token_ids=self.eog_ids,
            vocab_size=self.vocab_size,
            supports_grammar=True,
            control_tokens=self.control_texts,
        )

    def chat_template(self) -> str:
        """The default chat template, from the C accessor or the raw GGUF key."""
        raw = ll.llama_model_chat_template(self.handle, None)
        if raw:
            return bytes(raw).decode("utf-8", errors="replace")
        return self.meta("tokenizer.chat_template")

    def meta(self, key: str) -> str:
        """A GGUF metadata value as text ("" when absent)."""
        size = 1 << 16
        while True:
            buf = ctypes.create_string_buffer(size)
            n = ll.llama_model_meta_val_str(self.handle, key.encode(), buf, size)
            if n < 0:
                return ""
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    def token_text(self, token: int) -> str:
        """The vocabulary text of a (special) token, e.g. ``<|im_end|>``."""
        if token < 0 or token >= self.vocab_size:
            return ""
        raw = ll.llama_vocab_get_text(self.vocab, token)
        return bytes(raw).decode("utf-8", errors="replace") if raw else ""

    def kv_bytes_per_token(self) -> int:
        """Approximate f16 K+V bytes one token occupies across all layers."""
        n_head = max(1, ll.llama_model_n_head(self.handle))
        head_dim = ll.llama_model_n_embd(self.handle) // n_head
        n_head_kv = ll.llama_model_n_head_kv(self.handle)
        return int(2 * ll.llama_model_n_layer(self.handle) * n_head_kv * head_dim * 2)

    def bos_token(self) -> int:
        return int(ll.llama_vocab_bos(self.vocab))

    def eos_token(self) -> int:
        return int(ll.llama_vocab_eos(self.vocab))

    # -- text <-> tokens --------------------------------------------------

    def tokenize(self, text: str, special: bool = True) -> list[int]:
        """Tokenize with no BOS added; control-token markup is parsed only with ``special``."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            buf = (ll.llama_token * capacity)()
            n = ll.llama_tokenize(self.vocab, data, len(data), buf, capacity, False, special)
            if n >= 0:
                return list(buf[:n])
            capacity = -n

    def detokenize(self, ids: Sequence[int]) -> str:
        """Inverse of :meth:`tokenize`: special tokens are rendered as their text."""
        if not ids:
            return ""
        arr = (ll.llama_token * len(ids))(*ids)
        capacity = max(64, len(ids) * 8)
        while True:
            buf = ctypes.create_string_buffer(capacity)
            n = ll.llama_detokenize(self.vocab, arr, len(ids), buf, capacity, False, True)
            if n >= 0:
                return buf.raw[:n].decode("utf-8", errors="replace")
            capacity = -n

    def piece(self, token: int) -> bytes:
        """Raw bytes of one token, special/control tokens rendered empty (cached)."""
        cached = self._pieces.get(token)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        out = buf.raw[: max(n, 0)]
        self._pieces[token] = out  # dict assignment is atomic under the GIL
        return out

    # -- sampling ---------------------------------------------------------

    def sampler_chain(self, sampling: SamplingParams) -> SamplerChain:
        """Build the native chain for one sequence.

        Grammar goes first so later samplers only see allowed tokens; greedy
        is used for temperature 0 because a ``dist`` draw over a collapsed
        distribution would still consume RNG state and cost a softmax.
        """
        if sampling.temperature <= 0.0 and not sampling.grammar:
            return SamplerChain(None, greedy=True)
        cparams = ll.llama_sampler_chain_default_params()
        cparams.no_perf = True
        chain = SamplerChain(ll.llama_sampler_chain_init(cparams))
        try:
            if sampling.grammar:
                grammar = self._grammar_sampler(sampling)
                if not grammar:
                    raise EngineError("invalid GBNF grammar")
                self._add(chain, grammar)
            if sampling.temperature <= 0.0:
                self._add(chain, ll.llama_sampler_init_greedy())
                return chain
            if sampling.repeat_penalty != 1.0 and not (sampling.grammar and not sampling.grammar_triggers):
                self._add(
                    chain,
                    ll.llama_sampler_init_penalties(
                        self.vocab_size, REPEAT_LAST_N, float(sampling.repeat_penalty), 0.0, 0.0
                    ),
                )
            # top_k at or above the vocabulary keeps every token: skip it (a C int would wrap).
            if sampling.top_k is not None and 0 < sampling.top_k < self.vocab_size:
                self._add(chain, ll.llama_sampler_init_top_k(int(sampling.top_k)))
            if sampling.top_p is not None and sampling.top_p < 1.0:
                self._add(chain, ll.llama_sampler_init_top_p(float(sampling.top_p), 1))
            self._add(chain, ll.llama_sampler_init_temp(float(sampling.temperature)))
            seed = ll.LLAMA_DEFAULT_SEED if sampling.seed is None else sampling.seed & 0xFFFFFFFF
            self._add(chain, ll.llama_sampler_init_dist(seed))
            return chain
        except BaseException:
            chain.free()
            raise

    def _grammar_sampler(self, sampling: SamplingParams) -> Any:
        """A strict grammar, or a lazy one that starts at the first trigger string
        (``tool_choice: auto``: free text until the model opens a tool call)."""
        assert sampling.grammar is not None
        text = sampling.grammar.encode("utf-8")
        if not sampling.grammar_triggers:
            return ll.llama_sampler_init_grammar(self.vocab, text, b"root")
        # Patterns are regexes matched against the generated text; the grammar applies
        # from the start of the first match.
        escaped = [re.escape(t).encode("utf-8") for t in sampling.grammar_triggers]
        patterns = (ctypes.c_char_p * len(escaped))(*escaped)
        sampler = ll.llama_sampler_init_grammar_lazy_patterns(
            self.vocab, text, b"root", patterns, len(escaped), None, 0
        )
        return sampler

    @staticmethod
    def _add(chain: SamplerChain, sampler: int) -> None:
        ll.llama_sampler_chain_add(chain.handle, sampler)

    def free(self) -> None:
        if self.handle is not None:
            ll.llama_model_free(self.handle)
            self.handle = None


class NativeBatch:
    """A reusable ``llama_batch`` filled token by token each scheduler step."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = ll.llama_batch_init(capacity, 0, 1)
        self.n_tokens = 0

    def clear(self) -> None:
        self.n_tokens = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one token; returns its batch index (for sampling its logits)."""
        i = self.n_tokens
        raw = self.raw
        raw.token[i] = token
        raw.pos[i] = pos
        raw.n_seq_id[i] = 1
        raw.seq_id[i][0] = seq_id
        raw.logits[i] = logits
        self.n_tokens = i + 1
        return i

    def add_run(self, tokens: Iterable[int], start_pos: int, seq_id: int) -> None:
        """Append a prompt chunk without logits (the caller flags the last one)."""
        raw = self.raw
        i = self.n_tokens
        seq_ids = raw.seq_id
        for offset, token in enumerate(tokens):
            raw.token[i] = token
            raw.pos[i] = start_pos + offset
            raw.n_seq_id[i] = 1
            seq_ids[i][0] = seq_id
            raw.logits[i] = False
            i += 1
        self.n_tokens = i

    def set_logits(self, index: int) -> None:
        self.raw.logits[index] = True

    def free(self) -> None:
        if self.raw is not None:
            ll.llama_batch_free(self.raw)
            self.raw = None


class NativeContext:
    """A llama context (KV cache + compute graph); single-thread use only."""

    def __init__(
        self,
        model: NativeModel,
        *,
        n_ctx: int,
        n_seq_max: int,
        n_batch: int,
        n_threads: int,
        kv_unified: bool,
    ) -> None:
        """``n_ctx`` is the whole cache: the per-sequence window is ``n_ctx_seq``
        (``n_ctx`` when unified, ``n_ctx / n_seq_max`` otherwise)."""
        params = ll.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq_max
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = kv_unified
        params.no_perf = True
        handle = ll.llama_init_from_model(model.handle, params)
        if not handle:
            raise EngineError("could not create llama context")
        self.handle: int | None = handle
        self.memory = ll.llama_get_memory(handle)
        self.n_ctx: int = ll.llama_n_ctx(handle)
        self.n_ctx_seq: int = ll.llama_n_ctx_seq(handle)
        self.kv_unified = kv_unified
        self.n_threads = n_threads
        self._logits_shape = (model.vocab_size,)

    def set_threads(self, n_threads: int) -> None:
        """ggml threads for the next decodes (single-token and batched alike)."""
        if n_threads != self.n_threads:
            ll.llama_set_n_threads(self.handle, n_threads, n_threads)
            self.n_threads = n_threads

    def decode(self, batch: NativeBatch) -> int:
        """Run one forward pass (releases the GIL); returns llama_decode's status."""
        batch.raw.n_tokens = batch.n_tokens
        return int(ll.llama_decode(self.handle, batch.raw))

    def sample(self, chain: SamplerChain, index: int) -> int:
        """Sample (and accept) a token from the logits at batch ``index``."""
        if chain.greedy:
            row = ll.llama_get_logits_ith(self.handle, index)
            if not row:
                raise EngineError(f"no logits at batch index {index}")
            return int(np.ctypeslib.as_array(row, self._logits_shape).argmax())
        return int(ll.llama_sampler_sample(chain.handle, self.handle, index))

    def seq_rm(self, seq_id: int, p0: int = -1, p1: int = -1) -> None:
        """Drop a sequence's KV cells in [p0, p1) (all of them by default)."""
        ll.llama_memory_seq_rm(self.memory, seq_id, p0, p1)

    def seq_cp(self, src: int, dst: int, p0: int = -1, p1: int = -1) -> None:
        """Share ``src``'s cells in [p0, p1) with ``dst`` (no copy in a unified cache)."""
        ll.llama_memory_seq_cp(self.memory, src, dst, p0, p1)

    def seq_snapshot(self, seq_id: int) -> ctypes.Array[ctypes.c_uint8] | None:
        """A copy of ``seq_id``'s KV cells (positions and K/V rows) in host memory."""
        size = int(ll.llama_state_seq_get_size(self.handle, seq_id))
        if size <= 0:
            return None
        buf = (ctypes.c_uint8 * size)()
        written = int(ll.llama_state_seq_get_data(self.handle, buf, size, seq_id))
        return buf if written == size else None

    def seq_restore(self, data: ctypes.Array[ctypes.c_uint8], seq_id: int) -> bool:
        """Replace ``seq_id``'s cells by a snapshot; False (and an empty sequence)
        when the cache has no room for them."""
        self.seq_rm(seq_id)
        if int(ll.llama_state_seq_set_data(self.handle, data, len(data), seq_id)) > 0:
            return True
        self.seq_rm(seq_id)
        return False

    def seq_pos_max(self, seq_id: int) -> int:
        """The last position ``seq_id`` holds (-1 when empty)."""
        return int(ll.llama_memory_seq_pos_max(self.memory, seq_id))

    def clear(self) -> None:
        ll.llama_memory_clear(self.memory, True)

    def free(self) -> None:
        if self.handle is not None:
            ll.llama_free(self.handle)
            self.handle = None
