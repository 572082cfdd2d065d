"""Ollama's local model store, read in place (nothing is copied).

Ollama keeps ``manifests/<host>/<namespace>/<name>/<tag>`` (a Docker-style JSON manifest)
and content-addressed ``blobs/sha256-<hex>`` under ``$OLLAMA_MODELS`` (default
``~/.ollama/models``). The layer of media type ``application/vnd.ollama.image.model`` is the
GGUF itself; a vision model's projector is ``application/vnd.ollama.image.projector``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .errors import OllamaError
from .refs import OllamaRef

MODEL_LAYER = "application/vnd.ollama.image.model"
PROJECTOR_LAYER = "application/vnd.ollama.image.projector"


class Layer(BaseModel):
    mediaType: str
    digest: str
    size: int = 0


class Manifest(BaseModel):
    layers: list[Layer]


class OllamaModel(BaseModel):
    ref: str
    model: Path
    """The model layer's blob: llama.cpp opens it where it is."""
    projector: Path | None = None
    size_bytes: int


def store_root() -> Path:
    """``$OLLAMA_MODELS``, else ``~/.ollama/models`` (where ``ollama pull`` writes)."""
    configured = os.environ.get("OLLAMA_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".ollama" / "models"


def blob_path(root: Path, digest: str) -> Path:
    """``sha256:<hex>`` -> ``blobs/sha256-<hex>`` (the colon is not allowed in Windows names)."""
    return root / "blobs" / digest.replace(":", "-")


def manifest_path(root: Path, ref: OllamaRef) -> Path:
    return root / "manifests" / ref.host / ref.namespace / ref.name / ref.tag


def _load(root: Path, ref: OllamaRef, path: Path) -> OllamaModel:
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise OllamaError(f"{ref}: unreadable manifest {path}: {exc}") from exc
    layers = {layer.mediaType: layer for layer in manifest.layers}
    model = layers.get(MODEL_LAYER)
    if model is None:
        raise OllamaError(f"{ref}: the manifest has no model layer ({MODEL_LAYER})")
    blob = blob_path(root, model.digest)
    if not blob.is_file():
        raise OllamaError(f"{ref}: blob {blob} is missing (run `ollama pull {str(ref).removeprefix('ollama:')}`)")
    projector = layers.get(PROJECTOR_LAYER)
    return OllamaModel(
        ref=str(ref),
        model=blob,
        projector=blob_path(root, projector.digest) if projector else None,
        size_bytes=model.size or blob.stat().st_size,
    )


def locate(ref: OllamaRef, root: Path | None = None) -> OllamaModel:
    """The blobs of ``ref`` in the store (raises :class:`OllamaError` when absent)."""
    root = root or store_root()
    path = manifest_path(root, ref)
    if not path.is_file():
        raise OllamaError(f"{ref} is not in Ollama's store ({root}); `ollama pull` it first")
    return _load(root, ref, path)


def list_models(root: Path | None = None) -> Iterator[OllamaModel]:
    """Every model of the store (manifests without a model layer, or broken, are left out)."""
    root = root or store_root()
    base = root / "manifests"
    if not base.is_dir():
        return
    for path in sorted(base.glob("*/*/*/*")):
        if not path.is_file():
            continue
        host, namespace, name, tag = path.relative_to(base).parts
        try:
            yield _load(root, OllamaRef(host=host, namespace=namespace, name=name, tag=tag), path)
        except (OllamaError, json.JSONDecodeError):
            continue
