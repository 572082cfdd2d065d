"""Model references as users write them, and the choice of files they name.

- ``hf.co/<org>/<repo>:<QUANT>`` (``huggingface.co/`` too; no quant: ``Q4_K_M``, or the
  repository's only model file), ``hf.co/<org>/<repo>/<path>.gguf`` for one file;
  ``@<revision>`` after the repository picks a branch, tag or commit.
- ``ollama:<name>[:<tag>]`` (``ollama:qwen2.5-coder:7b``; ``<namespace>/<name>`` and
  ``<host>/<namespace>/<name>`` as in ``ollama pull``).
- Anything else is a path to a GGUF file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from .errors import RefError

DEFAULT_QUANT = "Q4_K_M"
_HUB_PREFIXES = ("hf.co/", "huggingface.co/", "https://huggingface.co/", "https://hf.co/")
_SPLIT = re.compile(r"^(?P<prefix>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


class HubRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    repo_id: str
    revision: str = "main"
    quant: str | None = None
    filename: str | None = None

    def __str__(self) -> str:
        revision = "" if self.revision == "main" else f"@{self.revision}"
        tail = f"/{self.filename}" if self.filename else f":{self.quant}" if self.quant else ""
        return f"hf.co/{self.repo_id}{revision}{tail}"


class OllamaRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str = "registry.ollama.ai"
    namespace: str = "library"
    name: str
    tag: str = "latest"

    def __str__(self) -> str:
        if self.host != "registry.ollama.ai":
            return f"ollama:{self.host}/{self.namespace}/{self.name}:{self.tag}"
        space = "" if self.namespace == "library" else f"{self.namespace}/"
        return f"ollama:{space}{self.name}:{self.tag}"


ModelRef = HubRef | OllamaRef


def parse_ref(text: str) -> ModelRef | None:
    """The hub or Ollama reference ``text`` is, or None for a path."""
    if text.startswith("ollama:"):
        return _ollama(text[len("ollama:") :])
    for prefix in _HUB_PREFIXES:
        if text.startswith(prefix):
            return _hub(text[len(prefix) :])
    return None


def is_ref(text: str) -> bool:
    """``text`` names a hub or Ollama model (rather than a path or a configured id)."""
    return text.startswith(("ollama:", *_HUB_PREFIXES))


def _ollama(rest: str) -> OllamaRef:
    name, _, tag = rest.partition(":")
    parts = [p for p in name.split("/") if p]
    if not parts or len(parts) > 3 or (tag and not re.fullmatch(r"[\w][\w.-]*", tag)):
        raise RefError(f"not an Ollama model name: ollama:{rest}")
    fields: dict[str, str] = {"name": parts[-1], "tag": tag or "latest"}
    if len(parts) >= 2:
        fields["namespace"] = parts[-2]
    if len(parts) == 3:
        fields["host"] = parts[0]
    return OllamaRef(**fields)


def _hub(rest: str) -> HubRef:
    parts = rest.split("/")
    if len(parts) < 2 or not all(parts):
        raise RefError(f"not hf.co/<org>/<repo>[:QUANT] nor hf.co/<org>/<repo>/<file>.gguf: {rest}")
    org, repo, path = parts[0], parts[1], "/".join(parts[2:])
    quant = None
    if not path and ":" in repo:
        repo, quant = repo.split(":", 1)
    revision = "main"
    if "@" in repo:
        repo, revision = repo.split("@", 1)
    if path and not path.lower().endswith(".gguf"):
        raise RefError(f"hf.co/{org}/{repo}/{path}: the file must be a .gguf")
    return HubRef(repo_id=f"{org}/{repo}", revision=revision, quant=quant, filename=path or None)


class Selection(BaseModel):
    """The files of a repository that make one model: its parts, in order, and a projector."""

    parts: list[str]
    mmproj: str | None = None


def is_projector(name: str) -> bool:
    return "mmproj" in name.rsplit("/", 1)[-1].lower()


def _parts_of(name: str, names: Iterable[str]) -> list[str]:
    """All parts of a split GGUF that ``name`` is one of (``name`` alone when not split)."""
    match = _SPLIT.match(name)
    if match is None:
        return [name]
    prefix, count = match["prefix"], int(match["count"])
    parts = sorted(n for n in names if (m := _SPLIT.match(n)) and m["prefix"] == prefix and int(m["count"]) == count)
    if len(parts) != count:
        raise RefError(f"{name}: {count} parts expected, {len(parts)} found")
    return parts


def _quant_pattern(quant: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?=[-.])", re.IGNORECASE)


def select(ref: HubRef, names: Iterable[str]) -> Selection:
    """The files of ``names`` (a repository's paths) that ``ref`` means."""
    every = sorted(names)
    ggufs = [n for n in every if n.lower().endswith(".gguf")]
    models = [n for n in ggufs if not is_projector(n)]
    if ref.filename:
        if ref.filename not in every:
            raise RefError(f"{ref}: no such file in {ref.repo_id}")
        chosen = ref.filename
    else:
        quant = ref.quant or DEFAULT_QUANT
        matching = [n for n in models if _quant_pattern(quant).search(n)]
        if not matching and ref.quant is None and len({_parts_of(n, models)[0] for n in models}) == 1:
            matching = models
        if not matching:
            available = ", ".join(n.rsplit("/", 1)[-1] for n in models) or "none"
            raise RefError(f"{ref}: no {quant} GGUF in {ref.repo_id} (files: {available})")
        chosen = matching[0]
    return Selection(parts=_parts_of(chosen, every), mmproj=_projector(chosen, [n for n in ggufs if is_projector(n)]))


def _projector(model: str, projectors: list[str]) -> str | None:
    """The projector for ``model``: one in its folder, preferring the same quantization, then F16."""
    if not projectors:
        return None
    folder = model.rsplit("/", 1)[0] if "/" in model else ""
    near = [p for p in projectors if (p.rsplit("/", 1)[0] if "/" in p else "") == folder] or projectors
    stem = model.rsplit("/", 1)[-1].lower()
    for prefer in ("same quant", "f16"):
        for candidate in near:
            name = candidate.rsplit("/", 1)[-1].lower()
            tail = name.removeprefix("mmproj-").removesuffix(".gguf").rsplit("-", 1)[-1]
            if (prefer == "f16" and "f16" in name) or (prefer == "same quant" and tail and tail in stem):
                return candidate
    return near[0]


def is_first_part(name: str) -> bool:
    """``name`` is a whole GGUF or the first part of a split one."""
    match = _SPLIT.match(name)
    return match is None or int(match["index"]) == 1
