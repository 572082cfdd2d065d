"""A skill version's archive unpacks where a sandbox mounts it, and never outside."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from epistula.skills.archive import extract_archive, write_archive
from epistula.skills.bundle import SkillLimits, UploadedFile, read_bundle

from .conftest import skill_files


def test_round_trip_under_the_skill_name(tmp_path: Path) -> None:
    uploads = [UploadedFile(path, io.BytesIO(data), len(data)) for path, data, _ in skill_files("upload-dir")]
    bundle = read_bundle(uploads, SkillLimits(max_bytes=1 << 20, max_files=10))
    archive = io.BytesIO()
    write_archive(bundle, archive)
    archive.seek(0)
    made = extract_archive(archive, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in made) == [
        "pdf-helper/SKILL.md",
        "pdf-helper/scripts/fill.py",
    ]
    assert (tmp_path / "pdf-helper/scripts/fill.py").read_bytes() == b"print('filled')\n"


@pytest.mark.parametrize("entry", ["../escape.txt", "/abs.txt", "a/../../escape.txt"])
def test_unsafe_entries_are_refused(tmp_path: Path, entry: str) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(entry, b"x")
    archive.seek(0)
    dest = tmp_path / "mount"
    with pytest.raises(ValueError, match="unsafe archive entry"):
        extract_archive(archive, dest)
    assert not (tmp_path / "escape.txt").exists() and not Path("/abs.txt").exists()
