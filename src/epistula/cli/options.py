"""Command-line options for settings, derived from :class:`~epistula.config.Settings`.

An option that sets a setting is named after it (``n_seq_max``: ``--n-seq-max``), and its
help is the field's description, the ``EPISTULA_*`` variable that sets it too, and the
default: written once, in ``config.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import PydanticUndefined

from epistula.config import Settings

_ROLE = re.compile(r":\w+:`([^`]+)`")  # :func:`name` -> name


def env_var(setting: str) -> str:
    """The environment variable that sets ``setting`` (``n_seq_max``: ``EPISTULA_N_SEQ_MAX``)."""
    if setting not in Settings.model_fields:
        raise KeyError(f"no setting {setting!r}")
    return f"{Settings.model_config.get('env_prefix', '')}{setting.upper()}"


def flag(setting: str) -> str:
    """The option that sets ``setting`` on the command line."""
    return "--" + setting.replace("_", "-")


def describe(setting: str) -> str:
    """The field's description as one line of plain text (no reST markup)."""
    description = Settings.model_fields[setting].description
    if not description:
        raise ValueError(f"setting {setting!r} has no description in epistula.config.Settings")
    return " ".join(_ROLE.sub(r"\1", description).replace("``", "").split())


def documented(text: str, env: str, default: str | None = None) -> str:
    """An option's help: ``text`` then, as click writes its own notes, the environment
    variable and the default (options that default to None show their effective default)."""
    notes = [f"env var: {env}"] + ([f"default: {default}"] if default is not None else [])
    return f"{text}  [{'; '.join(notes)}]"


def setting_option(setting: str) -> Any:
    """A ``typer.Option`` for ``setting``; it defaults to None, which leaves the value to
    the environment, then the config file, then the setting's default."""
    default = Settings.model_fields[setting].default
    shown = None if default is None or default is PydanticUndefined else str(default)
    return typer.Option(flag(setting), help=documented(describe(setting), env_var(setting), shown), show_default=False)


CONFIG_ENV = "EPISTULA_CONFIG"

ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help=documented("A TOML config file; its settings rank below EPISTULA_* variables and options.", CONFIG_ENV),
    ),
]
DataDir = Annotated[Path | None, setting_option("data_dir")]
DatabaseUrl = Annotated[str | None, setting_option("database_url")]
