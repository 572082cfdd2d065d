"""One view of the models on this machine, whatever store holds them.

A reference (:mod:`.refs`) resolves to a :class:`LocalModel`: the GGUF llama.cpp opens (the
first part of a split model) and the vision projector beside it. Hugging Face models live in
Hugging Face's cache (:mod:`.hub`), Ollama's in Ollama's store (:mod:`.ollama`), read in
place; a path is a path. Only :func:`pull` downloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from epistula.config import ModelConfig

from . import hub, ollama
from .download import Progress
from .errors import ModelNotFound, OllamaError, RefError
from .gguf_meta import read_metadata
from .refs import HubRef, OllamaRef, parse_ref


class LocalModel(BaseModel):
    ref: str
    source: Literal["hf", "ollama", "path"]
    path: Path
    """The file llama.cpp loads (a split model's first part)."""
    parts: list[Path]
    projector: Path | None = None
    size_bytes: int

    @property
    def model_id(self) -> str:
        """The served id: the file name without ``.gguf`` (hub, path) or ``name:tag`` (Ollama)."""
        if self.source == "ollama":
            name = self.ref.removeprefix("ollama:").rsplit("/", 1)[-1]
        else:
            name = re.sub(r"-00001-of-\d{5}$", "", self.path.name.removesuffix(".gguf"))
        return name.lower()


def _from_hub(model: hub.HubModel) -> LocalModel:
    return LocalModel(
        ref=model.ref,
        source="hf",
        path=model.parts[0],
        parts=model.parts,
        projector=model.projector,
        size_bytes=model.size_bytes,
    )


def _from_ollama(model: ollama.OllamaModel) -> LocalModel:
    return LocalModel(
        ref=model.ref,
        source="ollama",
        path=model.model,
        parts=[model.model],
        projector=model.projector,
        size_bytes=model.size_bytes,
    )


def _from_path(text: str) -> LocalModel:
    path = Path(text).expanduser()
    if not path.is_file():
        raise ModelNotFound(f"no model file at {path}")
    meta = read_metadata(path)  # refuses what is not a GGUF
    return LocalModel(ref=str(path), source="path", path=path, parts=[path], size_bytes=meta.size_bytes)


def locate(text: str) -> LocalModel:
    """The model ``text`` names, from what is on disk (never the network)."""
    ref = parse_ref(text)
    if isinstance(ref, OllamaRef):
        try:
            return _from_ollama(ollama.locate(ref))
        except OllamaError as exc:
            raise ModelNotFound(str(exc)) from exc
    if isinstance(ref, HubRef):
        found = hub.locate(ref)
        if found is None:
            raise ModelNotFound(f"{ref} is not downloaded (`epistula models pull {ref}`)")
        return _from_hub(found)
    return _from_path(text)


def pull(text: str, progress: Progress) -> LocalModel:
    """Download a hub model (resuming, verifying); Ollama and path models are only checked."""
    ref = parse_ref(text)
    if isinstance(ref, HubRef):
        model = _from_hub(hub.pull(ref, progress))
        read_metadata(model.path)
        return model
    return locate(text)


def list_models() -> Iterator[LocalModel]:
    """Hugging Face cache models, then Ollama's."""
    for model in hub.list_models():
        yield _from_hub(model)
    for found in ollama.list_models():
        yield _from_ollama(found)


def remove(text: str) -> list[Path]:
    """Delete a hub model from the cache; the links removed. Ollama's store stays Ollama's."""
    ref = parse_ref(text)
    if isinstance(ref, OllamaRef):
        raise RefError(
            f"{ref} belongs to Ollama's store: remove it with `ollama rm {str(ref).removeprefix('ollama:')}`"
        )
    if ref is None:
        raise RefError(f"{text} is a file of yours: epistula does not delete it")
    found = hub.locate(ref)
    if found is None:
        raise ModelNotFound(f"{ref} is not in the cache")
    return hub.remove(found)


def model_config(model: LocalModel) -> ModelConfig:
    """A served-model configuration for ``model`` (its id, path and display name)."""
    meta = read_metadata(model.path)
    name = meta.name or model.model_id
    return ModelConfig(
        id=model.model_id,
        path=str(model.path),
        display_name=f"{name} ({model.ref})",
        mmproj=str(model.projector) if model.projector else None,
    )
