"""The GGUF header reader on the real SmolLM2 file, and on files it must refuse."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from epistula.models.errors import GGUFError
from epistula.models.gguf_meta import read_metadata

from .paths import SMOLLM2_GGUF


def test_the_real_model_header() -> None:
    meta = read_metadata(SMOLLM2_GGUF)
    assert (meta.version, meta.architecture, meta.file_type) == (3, "llama", "Q4_1")
    assert meta.tensor_count == 272
    assert meta.context_length == 8192
    assert (meta.bos_token, meta.eos_token) == ("<|im_start|>", "<|im_end|>")
    assert meta.chat_template.startswith("{% for message in messages %}")
    assert "<|im_start|>" in meta.chat_template
    assert not meta.renders_tools and not meta.reasons and not meta.is_projector
    assert meta.split_count == 1 and meta.size_bytes == SMOLLM2_GGUF.stat().st_size


def _gguf(path: Path, pairs: list[tuple[str, int, bytes]]) -> Path:
    """A header-only GGUF with the given (key, type, encoded value) pairs."""
    body = b"".join(struct.pack("<Q", len(k)) + k.encode() + struct.pack("<I", t) + v for k, t, v in pairs)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + body)
    return path


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def test_template_features_and_skipped_arrays(tmp_path: Path) -> None:
    template = "{% if tools %}{{ tools | tojson }}{% endif %}<think>{{ messages }}"
    path = _gguf(
        tmp_path / "m.gguf",
        [
            ("general.architecture", 8, _string("qwen3")),
            ("qwen3.context_length", 4, struct.pack("<I", 40960)),
            ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.0, 1.0, 2.0)),
            ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + _string("<s>") + _string("</s>")),
            ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 0)),
            ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 1)),
            ("tokenizer.chat_template", 8, _string(template)),
            ("split.count", 2, struct.pack("<H", 3)),
        ],
    )
    meta = read_metadata(path)
    assert (meta.architecture, meta.context_length, meta.split_count) == ("qwen3", 40960, 3)
    assert (meta.bos_token, meta.eos_token) == ("<s>", "</s>")
    assert meta.renders_tools and meta.reasons


@pytest.mark.parametrize("data", [b"", b"GGML" + b"\0" * 20, b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + b"\x05"])
def test_what_is_not_a_gguf_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError):
        read_metadata(path)
