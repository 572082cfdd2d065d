"""The legacy SDK for ``/v1/complete`` tests.

``client.completions`` exists only in ``anthropic`` < 1.0, while this suite runs on 2.x, so
calls go through ``legacy_sdk.py`` in a child interpreter whose ``sys.path`` starts with a
private install of ``anthropic==0.125.0`` (the SDK's dependencies come from this venv). The
install lives under the venv (``<venv>/legacy/anthropic-0.125.0``, or
``EPISTULA_TEST_LEGACY_ANTHROPIC``) and is made once from PyPI; where that is impossible
the SDK tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import LiveServer

LEGACY_VERSION = "0.125.0"
HELPER = Path(__file__).with_name("legacy_sdk.py")


def _legacy_path() -> Path:
    configured = os.environ.get("EPISTULA_TEST_LEGACY_ANTHROPIC")
    return Path(configured) if configured else Path(sys.prefix) / "legacy" / f"anthropic-{LEGACY_VERSION}"


@dataclass
class LegacySDK:
    path: Path
    live: LiveServer

    def run(self, *calls: dict[str, Any]) -> list[dict[str, Any]]:
        job = {"base_url": self.live.base_url, "api_key": self.live.api_key, "calls": list(calls)}
        env = {**os.environ, "PYTHONPATH": str(self.path)}
        proc = subprocess.run(
            [sys.executable, str(HELPER)], input=json.dumps(job), env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr
        results: list[dict[str, Any]] = json.loads(proc.stdout)
        return results

    def create(self, **kwargs: Any) -> dict[str, Any]:
        [result] = self.run({"method": "create", "kwargs": kwargs})
        return result

    def stream(self, **kwargs: Any) -> dict[str, Any]:
        [result] = self.run({"method": "stream", "kwargs": kwargs})
        return result


@pytest.fixture(scope="session")
def legacy_sdk_path() -> Path:
    path = _legacy_path()
    if not (path / "anthropic" / "__init__.py").exists():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(path),
                f"anthropic=={LEGACY_VERSION}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            reason = f"anthropic=={LEGACY_VERSION} (client.completions) could not be installed: {proc.stderr[-500:]}"
            pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def legacy(legacy_sdk_path: Path, fake_server: LiveServer) -> LegacySDK:
    return LegacySDK(legacy_sdk_path, fake_server)
