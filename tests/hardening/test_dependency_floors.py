"""Issue 11 #10: the declared dependency floors exclude releases with known CVEs, and the
installed versions honour them."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
FLOORS = {  # name: (floor, a release with a known CVE)
    "starlette": ("1.3.1", "0.49.0"),
    "h11": ("0.16.0", "0.14.0"),
    "jinja2": ("3.1.6", "3.1.5"),
    "python-multipart": ("0.0.31", "0.0.17"),
    "pypdf": ("7.1.1", "6.16.0"),
}


def _declared() -> dict[str, Requirement]:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return {(req := Requirement(d)).name.lower(): req for d in deps}


@pytest.mark.parametrize("name,floor,vulnerable", [(n, f, v) for n, (f, v) in FLOORS.items()])
def test_floor_is_declared_and_installed(name: str, floor: str, vulnerable: str) -> None:
    req = _declared()[name]
    assert not req.specifier.contains(vulnerable)
    assert req.specifier.contains(floor)
    assert Version(version(name)) >= Version(floor)
