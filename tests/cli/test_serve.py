"""``epistula serve`` hands its options to the settings (over the environment and the
config file) and prints where to connect; the server itself is not started here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn

import epistula.http.app
from epistula.cli import main
from epistula.config import Settings


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What serve would run: the settings it built the app from, and uvicorn's arguments."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(epistula.http.app, "create_app", lambda settings: seen.setdefault("settings", settings))

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        seen.update(app=server.config.app, host=server.config.host, port=server.config.port, config=server.config)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setattr("epistula.cli.serve.configure_logging", lambda fmt, level: seen.update(log=(fmt, level)))
    return seen


def test_options_reach_the_settings(
    started: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.db"
    main(
        [
            "serve",
            "--host", "127.0.0.2",
            "--port", "9123",
            "--model", "smollm2-135m-instruct",
            "--engine", "fake",
            "--data-dir", str(tmp_path),
            "--database-url", f"sqlite:///{db}",
            "--n-seq-max", "3",
            "--log-format", "json",
        ]
    )  # fmt: skip
    settings: Settings = started["settings"]
    assert (settings.host, settings.port, settings.model, settings.engine) == (
        "127.0.0.2", 9123, "smollm2-135m-instruct", "fake"
    )  # fmt: skip
    assert (settings.data_dir, settings.database_url, settings.n_seq_max) == (tmp_path, f"sqlite:///{db}", 3)
    assert started["log"] == ("json", "info")
    assert (started["app"], started["host"], started["port"]) == (settings, "127.0.0.2", 9123)
    out = capsys.readouterr().out
    assert "Base URL: http://127.0.0.2:9123" in out and "sk-epi-api01-" in out and db.exists()


def test_options_over_environment_over_config_file(
    started: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "epistula.toml"
    config.write_text('port = 7001\nhost = "127.0.0.3"\nn_seq_max = 5\n')
    monkeypatch.setenv("EPISTULA_CONFIG", str(config))
    monkeypatch.setenv("EPISTULA_PORT", "7002")
    monkeypatch.setenv("EPISTULA_API_KEY", "sk-fixed")
    main(["serve", "--engine", "fake", "--data-dir", str(tmp_path), "--n-seq-max", "2"])
    settings: Settings = started["settings"]
    assert (settings.host, settings.port, settings.n_seq_max) == ("127.0.0.3", 7002, 2)


def test_connection_settings_have_options(started: dict[str, Any], tmp_path: Path) -> None:
    """Issue 11 #11: connection limits and timeouts reach the settings and uvicorn."""
    main(
        [
            "serve", "--engine", "fake", "--data-dir", str(tmp_path),
            "--limit-concurrency", "7", "--timeout-keep-alive", "3",
            "--timeout-request-headers", "2", "--timeout-request-body", "9",
            "--forwarded-allow-ips", "10.0.0.1", "--public-base-url", "https://x",
        ]
    )  # fmt: skip
    settings: Settings = started["settings"]
    assert (settings.limit_concurrency, settings.timeout_keep_alive, settings.forwarded_allow_ips) == (7, 3, "10.0.0.1")
    assert (settings.timeout_request_headers, settings.timeout_request_body) == (2.0, 9.0)
    assert settings.public_base_url == "https://x"
    config = started["config"]
    assert (config.limit_concurrency, config.timeout_keep_alive, config.forwarded_allow_ips) == (7, 3, "10.0.0.1")
