"""A skill version's files as one zip archive: what the blob store keeps, what the
download endpoint serves, and what a sandbox unpacks. Entries are ``<name>/<path>``:
the skill's name is the top-level directory of its mounted files."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .bundle import SkillBundle

_CHUNK = 1 << 20


def write_archive(bundle: SkillBundle, out: BinaryIO) -> None:
    """Write the bundle's files (streamed, deflated) under ``<bundle.name>/`` to ``out``."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, source in bundle.files:
            source.seek(0)
            with archive.open(f"{bundle.name}/{path}", "w") as entry:
                shutil.copyfileobj(source, entry, _CHUNK)


def extract_archive(source: BinaryIO, dest: Path) -> list[Path]:
    """Unpack an archive written by :func:`write_archive` into ``dest``; the files made.
    Every entry is checked again (relative, no ``..``), so a damaged blob cannot write
    outside ``dest``."""
    made: list[Path] = []
    root = dest.resolve()
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            if info.is_dir():
                continue
            if name.is_absolute() or any(part in ("", ".", "..") for part in name.parts):
                raise ValueError(f"unsafe archive entry {info.filename!r}")
            target = root.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as entry, target.open("wb") as out:
                shutil.copyfileobj(entry, out, _CHUNK)
            made.append(target)
    return made
