"""The served-model catalogue: ids, aliases, engines and ``ModelInfo`` for /v1/models."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from epistula.config import SamplingDefaults
from epistula.engines.base import Engine, Vision
from epistula.errors import NotFoundError
from epistula.models.errors import ModelNotFound
from epistula.models.files import join_parts
from epistula.models.refs import is_ref
from epistula.prompting.builtin_templates import builtin_template
from epistula.prompting.template import CHATML_TEMPLATE, ChatTemplate
from epistula.protocol.models import ModelInfo

_NO = {"supported": False}
_YES = {"supported": True}


def resolve_model_path(path: str | Sequence[str]) -> Path:
    """``package:pkg/file.gguf`` names a file inside an installed package (no import needed);
    a list names the byte chunks of one GGUF, joined once (:mod:`epistula.models.files`);
    ``hf.co/...`` and ``ollama:...`` name a downloaded model (:mod:`epistula.models.store`)."""
    if not isinstance(path, str):
        return join_parts([resolve_model_path(part) for part in path])
    if is_ref(path):
        from epistula.models import store  # imports huggingface_hub: only when needed

        try:
            return store.locate(path).path
        except ModelNotFound as exc:
            raise FileNotFoundError(str(exc)) from exc
    if path.startswith("package:"):
        package, _, rel = path[len("package:") :].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"package {package!r} is not installed (needed for {path})")
        return Path(next(iter(spec.submodule_search_locations))) / rel
    return Path(path).expanduser()


@dataclass
class ServedModel:
    id: str
    display_name: str
    engine: Engine
    template: ChatTemplate
    max_output_tokens: int
    created_at: str
    aliases: list[str] = field(default_factory=list)
    reasoning_override: bool | None = None
    tools_override: bool | None = None
    sampling: SamplingDefaults = field(default_factory=SamplingDefaults)
    """Defaults for sampling parameters a request leaves out (the model's own config)."""
    server_tools: frozenset[str] = frozenset()
    """The server tools the operator enabled (``code_execution``, ``web_fetch``, ``web_search``):
    epistula runs them for every model, so every model's capabilities say so."""

    @property
    def reasoning(self) -> bool:
        if self.reasoning_override is not None:
            return self.reasoning_override
        return "<think>" in self.template.source

    @property
    def native_tools(self) -> bool:
        """The chat template renders tool definitions itself (else they go into the system prompt)."""
        if self.tools_override is not None:
            return self.tools_override
        return self.template.supports_tools

    @property
    def context_window(self) -> int:
        return self.engine.facts.context_window

    @property
    def vision(self) -> Vision | None:
        """The engine's image reader: a model served with a vision projector sees images."""
        vision = getattr(self.engine, "vision", None)
        return vision if isinstance(vision, Vision) else None

    def capabilities(self) -> dict[str, object]:
        return {
            "batch": _YES,
            "citations": _YES,
            "code_execution": _NO,
            "image_input": _YES if self.vision is not None else _NO,
            "pdf_input": _YES,
            "structured_outputs": _YES if self.engine.facts.supports_grammar else _NO,
            # every model thinks: one that does not natively gets its <think> section opened
            "thinking": {
                "supported": True,
                "types": {"enabled": _YES, "disabled": _YES, "adaptive": _YES, "between_tools": _NO},
            },
            "effort": {"supported": True, "low": _YES, "medium": _YES, "high": _YES, "max": _YES},
            "context_management": {
                "supported": True,
                "clear_tool_uses_20250919": _YES,
                "clear_thinking_20251015": _YES,
            },
            "server_tools": {
                "supported": bool(self.server_tools),
                "code_execution": _YES if "code_execution" in self.server_tools else _NO,
                "web_search": _YES if "web_search" in self.server_tools else _NO,
            },
        }

    def info(self, model_id: str | None = None) -> ModelInfo:
        listed = model_id or self.id
        name = self.display_name if listed == self.id else f"{listed} (served by {self.display_name})"
        return ModelInfo(
            id=listed,
            display_name=name,
            created_at=self.created_at,
            max_input_tokens=self.context_window,
            max_tokens=self.max_output_tokens,
            capabilities=self.capabilities(),
        )


def make_template(engine: Engine, override: str | None) -> ChatTemplate:
    facts = engine.facts
    source = (builtin_template(override) if override else None) or facts.chat_template or CHATML_TEMPLATE
    return ChatTemplate(source, bos_token=facts.bos_token, eos_token=facts.eos_token)


class Catalog:
    def __init__(self) -> None:
        self._models: dict[str, ServedModel] = {}
        self._aliases: dict[str, str] = {}

    def add(self, model: ServedModel) -> None:
        self._models[model.id] = model

    def alias(self, alias: str, model_id: str) -> None:
        if model_id not in self._models:
            raise ValueError(f"alias {alias!r} points at unknown model {model_id!r}")
        self._aliases[alias] = model_id
        self._models[model_id].aliases.append(alias)

    @property
    def models(self) -> list[ServedModel]:
        return list(self._models.values())

    def resolve(self, model_id: str) -> ServedModel:
        target = self._aliases.get(model_id, model_id)
        model = self._models.get(target)
        if model is None:
            raise NotFoundError(f"model: {model_id}")
        return model

    def infos(self) -> list[ModelInfo]:
        """Served models first, then their aliases (newest first, as the real list is)."""
        out: list[ModelInfo] = []
        for model in self._models.values():
            out.append(model.info())
        for alias, target in self._aliases.items():
            out.append(self._models[target].info(alias))
        return out

    def info(self, model_id: str) -> ModelInfo:
        return self.resolve(model_id).info(model_id)
