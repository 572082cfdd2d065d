"""A GGUF file's metadata, read from its header without loading any weights.

GGUF (llama.cpp's format) starts with ``GGUF``, a version, the tensor and key counts, then
typed key/value pairs; the tensors follow. Only the key/value section is read here (large
numeric arrays are skipped by seeking), so reading the header of a multi-gigabyte model
costs milliseconds and no memory map. The keys used are llama.cpp's conventions:
``general.architecture``, ``<arch>.context_length``, ``tokenizer.chat_template``,
``tokenizer.ggml.{bos,eos}_token_id`` with ``tokenizer.ggml.tokens``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel

from .errors import GGUFError

MAGIC = b"GGUF"

# value type -> struct format of one fixed-size value (8: string, 9: array)
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens"})
"""Arrays worth keeping (the vocabulary, for the text of BOS/EOS); others are skipped."""

# llama.cpp's ``general.file_type`` (enum llama_ftype) for the common quantizations
_FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4",
}  # fmt: skip

Value = int | float | bool | str | list["Value"]


class GGUFMetadata(BaseModel):
    """What the catalog and ``epistula models show`` need from a GGUF header."""

    path: str
    size_bytes: int
    version: int
    tensor_count: int
    architecture: str
    name: str = ""
    file_type: str = ""
    context_length: int | None = None
    chat_template: str = ""
    bos_token: str = ""
    eos_token: str = ""
    split_count: int = 1
    """More than 1: the first of the parts of a split GGUF (llama.cpp loads the rest)."""

    @property
    def renders_tools(self) -> bool:
        """The template has a place for tool definitions (otherwise they go into the system prompt)."""
        return "tools" in self.chat_template

    @property
    def reasons(self) -> bool:
        """The template knows ``<think>`` sections: the model writes its reasoning."""
        return "<think>" in self.chat_template

    @property
    def is_projector(self) -> bool:
        """A vision projector (``mmproj``), not a language model."""
        return self.architecture == "clip"


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def unpack(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        data = self._stream.read(size)
        if len(data) != size:
            raise GGUFError("truncated GGUF header")
        value: int | float | bool = struct.unpack(fmt, data)[0]
        return value

    def count(self) -> int:
        return int(self.unpack("<Q"))

    def string(self) -> str:
        length = self.count()
        data = self._stream.read(length)
        if len(data) != length:
            raise GGUFError("truncated GGUF string")
        return data.decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool = True) -> Value | None:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, length = int(self.unpack("<I")), self.count()
            if not keep and item_kind in _SCALARS:
                self._stream.seek(struct.calcsize(_SCALARS[item_kind]) * length, 1)
                return None
            items = [self.value(item_kind, keep) for _ in range(length)]
            return [item for item in items if item is not None] if keep else None
        raise GGUFError(f"unknown GGUF value type {kind}")


def read_raw(path: Path) -> tuple[int, int, dict[str, Value]]:
    """The version, tensor count and key/value pairs (skipped arrays left out) of ``path``."""
    with path.open("rb") as raw:
        if raw.read(4) != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file")
        reader = _Reader(raw)
        version = int(reader.unpack("<I"))
        if version < 2:
            raise GGUFError(f"{path}: GGUF version {version} is too old")
        tensors, keys = reader.count(), reader.count()
        values: dict[str, Value] = {}
        for _ in range(keys):
            key = reader.string()
            kind = int(reader.unpack("<I"))
            keep = kind != _ARRAY or key in _KEPT_ARRAYS
            value = reader.value(kind, keep)
            if value is not None:
                values[key] = value
    return version, tensors, values


def _int(value: Value | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token(values: dict[str, Value], which: str) -> str:
    tokens, token_id = values.get("tokenizer.ggml.tokens"), _int(values.get(f"tokenizer.ggml.{which}_token_id"))
    if isinstance(tokens, list) and token_id is not None and 0 <= token_id < len(tokens):
        return str(tokens[token_id])
    return ""


def read_metadata(path: Path) -> GGUFMetadata:
    """The metadata of the GGUF at ``path`` (the first part, for a split model)."""
    version, tensors, values = read_raw(path)
    arch = str(values.get("general.architecture", ""))
    file_type = _int(values.get("general.file_type"))
    return GGUFMetadata(
        path=str(path),
        size_bytes=path.stat().st_size,
        version=version,
        tensor_count=tensors,
        architecture=arch,
        name=str(values.get("general.name", "")),
        file_type=_FILE_TYPES.get(file_type, str(file_type)) if file_type is not None else "",
        context_length=_int(values.get(f"{arch}.context_length")),
        chat_template=str(values.get("tokenizer.chat_template", "")),
        bos_token=_token(values, "bos"),
        eos_token=_token(values, "eos"),
        split_count=_int(values.get("split.count")) or 1,
    )
