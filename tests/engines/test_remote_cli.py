"""``epistula serve --engine remote --upstream URL --upstream URL`` reaches the settings
(the server is not started: the same stand-ins as tests/cli/test_serve.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

import epistula.http.app
from epistula.cli import main
from epistula.config import Settings


def test_upstreams_and_parallelism_options_reach_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(epistula.http.app, "create_app", lambda settings: seen.setdefault("settings", settings))
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: None)
    monkeypatch.setattr("epistula.cli.serve.configure_logging", lambda fmt, level: None)
    main(
        [
            "serve", "--engine", "remote", "--data-dir", str(tmp_path),
            "--upstream", "http://10.0.0.1:8080", "--upstream", "vllm+http://10.0.0.2:8000",
            "--tensor-parallel-size", "4", "--pipeline-parallel-size", "2", "--distributed-executor-backend", "ray",
        ]
    )  # fmt: skip
    settings: Settings = seen["settings"]
    assert settings.engine == "remote"
    assert settings.upstream == ["http://10.0.0.1:8080", "vllm+http://10.0.0.2:8000"]
    assert (settings.tensor_parallel_size, settings.pipeline_parallel_size) == (4, 2)
    assert settings.distributed_executor_backend == "ray"
