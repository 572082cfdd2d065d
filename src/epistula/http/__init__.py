"""The HTTP edge (Starlette). Nothing imports this package except the CLI."""
