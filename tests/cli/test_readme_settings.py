"""README's "Configuration" table lists every setting of :class:`Settings` (and no removed
one), with its environment variable and, where ``epistula serve`` has one, its option."""

from __future__ import annotations

import re
from pathlib import Path

from epistula.cli.options import env_var, flag
from epistula.config import Settings

from .commands import command, option_names

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(\w+)` \|([^|]*)\|([^|]*)\|")


def table() -> dict[str, tuple[str, str]]:
    """Setting -> (env variable cell, flag cell) from the table under ``## Configuration``."""
    section = README.read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if match := ROW.match(line):
            name, env, option = match.groups()
            assert name not in rows, f"README lists {name} twice"
            rows[name] = (env.strip(), option.strip())
    return rows


def test_every_setting_has_a_row() -> None:
    rows = table()
    missing = sorted(set(Settings.model_fields) - set(rows))
    removed = sorted(set(rows) - set(Settings.model_fields))
    assert not missing, f"README's settings table lacks {missing}"
    assert not removed, f"README's settings table lists settings that no longer exist: {removed}"


def test_rows_name_the_env_variable_and_the_serve_option() -> None:
    serve_options = {spelling for spellings in option_names(command("serve")).values() for spelling in spellings}
    for name, (env, option) in table().items():
        assert env.startswith(f"`{env_var(name)}`"), f"{name}: env column {env!r}"
        expected = f"`{flag(name)}`" if flag(name) in serve_options else ""
        assert option == expected, f"{name}: flag column {option!r}, expected {expected!r}"
