"""The web console: static HTML, CSS and vanilla JavaScript served at ``/console``.

The files under ``static/`` are package data (see ``[tool.setuptools.package-data]``).
The console has no server-side part beyond serving them: it is a client of the public
HTTP API like any other, holding the admin key only in the browser's ``sessionStorage``,
so it can never do anything an Admin API key could not do with ``curl``.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

PACKAGE = "epistula.console"
STATIC_DIR = "static"


def static_files() -> Traversable:
    """The console's asset directory inside the installed package."""
    return files(PACKAGE).joinpath(STATIC_DIR)
