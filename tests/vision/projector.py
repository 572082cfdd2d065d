"""A tiny random-weight vision projector for SmolLM2-135M, and test images.

The projector is a LLaVA-style ``mlp`` mmproj (a one-layer CLIP ViT, 32x32 pixels in 8x8
patches, and a two-layer MLP into SmolLM2's 576-wide embeddings) written with the ``gguf``
package in well under a second: 16 image tokens per image, whatever its size. Its outputs
are meaningless; tests assert the plumbing (status, usage, counts, prefix identity), never
what the model says. No vision GGUF small enough for CI is published on PyPI; a real model
is documented in ``docs/vision.md``.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import gguf
import numpy as np

IMAGE_TOKENS = 16
"""Image tokens per image: (32 / 8) ** 2 patches."""
_WIDTH = 32
_PATCH = 8
_EMBD = 32
_FFN = 64
_TEXT_EMBD = 576  # SmolLM2-135M


def build_projector(
    path: Path,
    kind: str = "mlp",
    *,
    width: int = _WIDTH,
    patch: int = _PATCH,
    embd: int = _EMBD,
    ffn: int = _FFN,
    blocks: int = 1,
) -> Path:
    """``kind``: ``mlp`` (LLaVA), or ``idefics3`` (SmolVLM's: its tag tokens around each
    image are missing from SmolLM2's vocabulary, so it does not fit the default model).
    The sizes default to the tiny test encoder; a benchmark makes a real-sized one (a
    ViT-B/16 at 224 pixels: ``width=224, patch=16, embd=768, ffn=3072, blocks=12``), which
    takes ``(width // patch) ** 2`` tokens per image."""
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_string("general.name", "epistula test projector")
    writer.add_string("clip.projector_type", kind)
    writer.add_bool("clip.has_vision_encoder", True)
    for key, value in {
        "image_size": width,
        "patch_size": patch,
        "embedding_length": embd,
        "feed_forward_length": ffn,
        "projection_dim": _TEXT_EMBD,
        "block_count": blocks,
        "attention.head_count": max(2, embd // 64),
    }.items():
        writer.add_uint32(f"clip.vision.{key}", value)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_bool("clip.use_gelu", True)

    def weights(name: str, *shape: int) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    def norm(name: str, width: int) -> None:
        writer.add_tensor(f"{name}.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{name}.bias", np.zeros(width, dtype=np.float32))

    def linear(name: str, n_out: int, n_in: int) -> None:
        weights(f"{name}.weight", n_out, n_in)
        writer.add_tensor(f"{name}.bias", np.zeros(n_out, dtype=np.float32))

    llava = kind == "mlp"
    if llava:
        weights("v.class_embd", embd)
        norm("v.pre_ln", embd)
    else:
        writer.add_uint32("clip.vision.projector.scale_factor", 2)
        norm("v.post_ln", embd)
    weights("v.patch_embd.weight", embd, 3, patch, patch)
    writer.add_tensor("v.patch_embd.bias", np.zeros(embd, dtype=np.float32))
    weights("v.position_embd.weight", (width // patch) ** 2 + llava, embd)
    for block in range(blocks):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            linear(f"v.blk.{block}.{name}", embd, embd)
        norm(f"v.blk.{block}.ln1", embd)
        norm(f"v.blk.{block}.ln2", embd)
        linear(f"v.blk.{block}.ffn_up", ffn, embd)
        linear(f"v.blk.{block}.ffn_down", embd, ffn)
    if llava:
        linear("mm.0", _TEXT_EMBD, embd)
        linear("mm.2", _TEXT_EMBD, _TEXT_EMBD)
    else:
        weights("mm.model.fc.weight", _TEXT_EMBD, embd * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def png(width: int, height: int, seed: int = 0) -> bytes:
    """An RGB PNG with a pattern that depends on ``seed`` (different seeds: different bytes)."""
    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 13 + seed * 31 + c * 50) % 256 for x in range(width) for c in range(3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one color (for a real vision model to name)."""
    rows = (b"\x00" + bytes(rgb) * width) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
