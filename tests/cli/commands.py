"""The command tree of ``epistula``, walked through its click objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from epistula.cli import app


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``epistula`` (the root included), with its path."""
    todo: list[tuple[tuple[str, ...], Any]] = [((), typer.main.get_command(app))]
    while todo:
        path, command = todo.pop()
        yield path, command
        todo.extend(((*path, name), sub) for name, sub in getattr(command, "commands", {}).items())


def command(*path: str) -> Any:
    return dict(commands())[path]


def option_names(command: Any) -> dict[str, list[str]]:
    """A command's options by parameter name: their spellings (``--output``, ``-o``)."""
    return {p.name: [*p.opts, *p.secondary_opts] for p in command.params if p.param_type_name == "option"}


def argument_names(command: Any) -> list[str]:
    return [p.name for p in command.params if p.param_type_name == "argument"]
