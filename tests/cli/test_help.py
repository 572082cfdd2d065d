"""``--help`` of every command runs and documents each option (and the environment
variable behind it); ``--version``; the entry points."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path
from typing import get_args

import pytest

from epistula import __version__
from epistula.cli import main
from epistula.cli.options import describe, env_var
from epistula.config import Settings

from .commands import argument_names, command, commands, option_names

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = sorted(path for path, _ in commands())
BATCH_ENV = {"base_url": "ANTHROPIC_BASE_URL", "api_key": "ANTHROPIC_API_KEY"}  # a client's, not the server's


def help_text(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    main([*path, "--help"])
    out = capsys.readouterr().out
    # Unwrapped: the formatter breaks lines between words, and after the hyphen of a long
    # hyphenated word ("X-Forwarded-" / "Proto").
    return re.sub(r"(?<=\w-) (?=\w)", "", " ".join(out.split()))


def test_the_tree_has_every_command() -> None:
    assert {" ".join(path) for path in COMMANDS} >= {
        "serve",
        "keys create",
        "keys list",
        "keys disable",
        "keys enable",
        "keys archive",
        "workspaces create",
        "workspaces list",
        "workspaces archive",
        "batch submit",
        "batch status",
        "batch results",
        "batch cancel",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "epistula")
def test_help_documents_every_option(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(path, capsys)
    assert text.startswith(f"Usage: {' '.join(('epistula', *path))} ")
    cmd = command(*path)
    for name, spellings in option_names(cmd).items():
        for spelling in spellings:
            assert re.search(rf"(^| ){re.escape(spelling)}[ ,]", text), f"{spelling} missing from --help of {path}"
        if path[:1] == ("batch",):
            if name in BATCH_ENV:
                assert f"env var: {BATCH_ENV[name]}" in text
        elif name == "config":
            assert "env var: EPISTULA_CONFIG]" in text
        elif name in Settings.model_fields:
            assert describe(name) in text, f"--help of {path}: {spellings[0]} lacks the description of {name}"
            assert f"env var: {env_var(name)}" in text
    for name in argument_names(cmd):
        assert f" {name} " in text


def test_literal_settings_list_their_choices(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(("serve",), capsys)
    for name in ("engine", "log_format"):
        choices = [c for c in get_args(Settings.model_fields[name].annotation) if c is not None]
        assert f"<{'|'.join(choices)}>" in text


def test_help_shows_the_effective_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(("serve",), capsys)
    assert "env var: EPISTULA_PORT; default: 8080]" in text
    assert "env var: EPISTULA_N_SEQ_MAX; default: 16]" in text
    assert "env var: EPISTULA_MODEL]" in text  # None: no default shown


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version"])
    assert capsys.readouterr().out == f"{__version__}\n"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["serve", "--engine", "nope"], ["keys", "list", "--status", "gone"], ["frobnicate"], []):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
    assert "Invalid value for '--engine'" in capsys.readouterr().err


def test_console_script_is_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attr = scripts["epistula"].partition(":")
    assert getattr(import_module(module), attr) is main


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "epistula", "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == __version__
