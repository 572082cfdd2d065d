"""A real vision model sees a real image (opt-in: SmolVLM-256M is not on PyPI).

Run with ``EPISTULA_TEST_VISION_GGUF=.../SmolVLM-256M-Instruct-Q8_0.gguf`` and
``EPISTULA_TEST_VISION_MMPROJ=.../mmproj-SmolVLM-256M-Instruct-Q8_0.gguf`` (``epistula models
pull hf.co/ggml-org/SmolVLM-256M-Instruct-GGUF:Q8_0`` fetches both; docs/vision.md)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import API_KEY, MODEL, V2023, LiveServer, start_server
from epistula.config import ModelConfig, Settings

from .projector import solid_png

GGUF = os.environ.get("EPISTULA_TEST_VISION_GGUF")
MMPROJ = os.environ.get("EPISTULA_TEST_VISION_MMPROJ")


@pytest.fixture(scope="module")
def real_vision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not (GGUF and MMPROJ):
        pytest.skip("set EPISTULA_TEST_VISION_GGUF and EPISTULA_TEST_VISION_MMPROJ to a vision model and its projector")
    model = ModelConfig(id="smolvlm", path=GGUF, mmproj=MMPROJ, context_window=4096)
    settings = Settings(
        engine="llamacpp", api_key=API_KEY, data_dir=tmp_path_factory.mktemp("real-vision"), models=[model], n_seq_max=1
    )
    live = start_server(settings, startup_timeout=600.0)
    yield live
    live.stop()


def test_the_model_names_the_color_it_sees(real_vision: LiveServer) -> None:
    data = solid_png(256, 256, (220, 20, 20))
    messages = [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()},
                },
                {"type": "text", "text": "What color is this image? Answer with one word."},
            ],
        }
    ]
    client = real_vision.client(version=V2023)
    reply = client.messages.create(model=MODEL, max_tokens=8, messages=messages, extra_body={"temperature": 0})  # type: ignore[arg-type]
    text = "".join(b.text for b in reply.content if b.type == "text").lower()
    assert "red" in text, text
    assert reply.usage.input_tokens == client.messages.count_tokens(model=MODEL, messages=messages).input_tokens  # type: ignore[arg-type]
    assert Path(MMPROJ or "").is_file()
