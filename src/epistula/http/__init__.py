"""The HTTP edge: the composition root (:mod:`.app`) and the ASGI middleware.

Nothing imports this package except the CLI."""
