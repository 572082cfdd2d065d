"""The ``epistula`` command line, built with Typer: one module per command group."""

from .app import app, main

__all__ = ["app", "main"]
