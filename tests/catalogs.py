"""A served model and a catalogue on the fake engine, for tests that render and tokenize
prompts without a server."""

from __future__ import annotations

from epistula.engines.base import Engine
from epistula.engines.fake import FakeEngine
from epistula.models.catalog import Catalog, ServedModel, make_template


def served_model(engine: Engine | None = None, *, id: str = "fake", max_output_tokens: int = 4096) -> ServedModel:
    """``engine`` (a fresh fake one by default) as a served model with its own template."""
    engine = engine or FakeEngine(name=id)
    return ServedModel(
        id=id,
        display_name=id,
        engine=engine,
        template=make_template(engine, None),
        max_output_tokens=max_output_tokens,
        created_at="2026-01-01T00:00:00Z",
    )


def fake_catalog(*, max_output_tokens: int = 4096, aliases: tuple[str, ...] = ()) -> Catalog:
    """A catalogue serving one fake model, ``fake``, under any extra ``aliases``."""
    catalog = Catalog()
    catalog.add(served_model(max_output_tokens=max_output_tokens))
    for alias in aliases:
        catalog.alias(alias, "fake")
    return catalog
