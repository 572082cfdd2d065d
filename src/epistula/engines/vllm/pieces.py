"""Raw bytes of one token of a Hugging Face tokenizer (what ``Token.piece`` carries).

Token strings of byte-level BPE vocabularies (GPT-2, Llama 3, Qwen, SmolLM) spell bytes
with GPT-2's printable alphabet (``Ġ`` is a space); SentencePiece vocabularies (Llama 2,
Mistral, Gemma) use ``▁`` for a space and ``<0xHH>`` byte-fallback tokens. Either way one
token maps to a fixed byte string, so a character split over tokens is joined above the
engine, as with llama.cpp. Special tokens are rendered empty, as llama.cpp renders them.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@cache
def _gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for the 256 byte values, inverted."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    visible += list(range(ord("®"), ord("ÿ") + 1))
    chars = visible[:]
    extra = 0
    for b in range(256):
        if b not in visible:
            visible.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(visible, chars, strict=True)}


class PieceTable:
    """Token id -> bytes for one tokenizer (cached per id)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer
        self._special: frozenset[int] = frozenset(getattr(tokenizer, "all_special_ids", ()))
        spelled = tokenizer.convert_ids_to_tokens(tokenizer.encode(" a", add_special_tokens=False))
        self._byte_level = any("Ġ" in str(t) for t in spelled)
        self._cache: dict[int, bytes] = {}

    def __call__(self, token: int) -> bytes:
        piece = self._cache.get(token)
        if piece is None:
            piece = self._cache[token] = self._compute(token)
        return piece

    def _compute(self, token: int) -> bytes:
        if token in self._special:
            return b""
        text = self._tok.convert_ids_to_tokens(token)
        if not isinstance(text, str):
            return b""
        byte = _BYTE_TOKEN.match(text)
        if byte:
            return bytes([int(byte.group(1), 16)])
        if self._byte_level:
            decoder = _gpt2_byte_decoder()
            if all(c in decoder for c in text):
                return bytes(decoder[c] for c in text)
            return text.encode()  # an added (non-byte-level) token
        return text.replace("▁", " ").encode()
