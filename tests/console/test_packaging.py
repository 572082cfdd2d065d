"""The console's files are package data: in the installed package (importlib.resources)
and in a wheel built from this checkout, so ``pip install epistula`` serves a whole console."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from epistula.console import static_files

from .conftest import static_paths

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_HINTS = ("Could not find a version", "NewConnectionError", "Failed to establish", "No matching distribution")


def test_the_installed_package_has_the_assets() -> None:
    static = static_files()
    assert static.joinpath("index.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    for path in static_paths():
        assert static.joinpath(*path.split("/")).is_file(), path


def test_the_wheel_contains_every_asset(tmp_path: Path) -> None:
    """Built from a copy of the sources (pyproject.toml, README.md, src/), never in the checkout."""
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    shutil.copy(ROOT / "README.md", tree)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "--quiet", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0 and any(hint in proc.stdout + proc.stderr for hint in OFFLINE_HINTS):
        pytest.skip("the build backend could not be installed (no package index reachable)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("epistula-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [p for p in static_paths() if f"epistula/console/static/{p}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert "epistula/api/console.py" in names
