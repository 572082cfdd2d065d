"""The official ``openai`` SDK against a live epistula (``base_url=<server>/v1``, the key as
``Authorization: Bearer``, no ``anthropic-version``: what the SDK sends by default)."""

from __future__ import annotations

import openai
import pytest

from conftest import LiveServer


def openai_client(live: LiveServer, **kwargs: object) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 120.0)
    kwargs.setdefault("api_key", live.api_key)
    return openai.OpenAI(base_url=live.base_url + "/v1", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def oai(fake_server: LiveServer) -> openai.OpenAI:
    return openai_client(fake_server)
