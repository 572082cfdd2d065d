"""An image block reaches the vision model through the official TypeScript SDK
(``@anthropic-ai/sdk``, installed by ``.ci/run`` with npm), and its tokens are in ``usage``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import MODEL, LiveServer

from .projector import png
from .test_vision_sdk import ask, count, image

ROOT = Path(__file__).resolve().parents[2]


def sdk_modules() -> Path | None:
    """A ``node_modules`` holding the SDK: ``EPISTULA_TEST_NODE_MODULES``, else .ci/run's."""
    for candidate in (os.environ.get("EPISTULA_TEST_NODE_MODULES"), ROOT / ".venv-ci/npm/node_modules"):
        if candidate and (Path(candidate) / "@anthropic-ai/sdk/package.json").is_file():
            return Path(candidate)
    return None


def test_image_through_the_typescript_sdk(vision_server: LiveServer) -> None:
    modules = sdk_modules()
    node = shutil.which("node")
    if modules is None or node is None:
        pytest.skip("the TypeScript SDK is not installed (npm install @anthropic-ai/sdk; .ci/run does)")
    data = png(36, 24, seed=7)
    done = subprocess.run(
        [node, str(Path(__file__).with_name("ts_image.cjs"))],
        env={
            **os.environ,
            "NODE_PATH": str(modules),
            "BASE_URL": vision_server.base_url,
            "API_KEY": vision_server.api_key,
            "MODEL": MODEL,
            "IMAGE": base64.b64encode(data).decode(),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["type"] == "message"
    assert reply["usage"]["input_tokens"] == count(vision_server.client(), ask(image(data)))
