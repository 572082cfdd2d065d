"""The ``epistula`` command: ``serve``, ``claude``, ``keys``, ``workspaces``, ``batch``, ``models``, ``--version``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from epistula import __version__

from . import batch, keys, models, workspaces
from .claude import claude
from .serve import serve

app = typer.Typer(
    name="epistula",
    help="The Anthropic Claude API on local models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: the options' texts are printed as written
)
app.command()(serve)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(claude)
app.add_typer(keys.app)
app.add_typer(workspaces.app)
app.add_typer(batch.app)
app.add_typer(models.app)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def epistula(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """The Anthropic Claude API on local models."""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``). Returns when a command
    succeeds (so it can be called in-process); failures exit with a non-zero status."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="epistula")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
