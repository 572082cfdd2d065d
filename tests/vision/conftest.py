"""A real server (SmolLM2-135M on llama.cpp) with the tiny test projector: a vision model
that may fetch URL sources from 127.0.0.1 (a test site)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import API_KEY, LiveServer, start_server
from epistula.config import Settings, UrlSourceSettings

from .projector import build_projector


@pytest.fixture(scope="session")
def vision_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("vision")
    settings = Settings(
        engine="llamacpp",
        api_key=API_KEY,
        data_dir=tmp,
        n_seq_max=2,
        n_ctx=2048,
        mmproj=str(build_projector(tmp / "mmproj-test.gguf")),
        prompt_cache_min_tokens=1,
        # URL sources on, for the local test site only (loopback is refused unless listed).
        url_sources=UrlSourceSettings(enabled=True, allowed_domains=["127.0.0.1"], allowed_networks=["127.0.0.0/8"]),
    )
    live = start_server(settings, startup_timeout=300.0)
    yield live
    live.stop()
