"""The token-level wire formats of the upstream servers the remote engine streams from.

Two dialects, both fed token ids (never text, never another API's chat format):

* ``llama`` -- llama-server's native ``POST /completion``: ``prompt`` as a token array,
  ``cache_prompt``, ``grammar`` (lazy with ``grammar_triggers``), ``return_tokens`` for
  the sampled ids and ``return_progress`` for prefill progress (whose first chunk says
  how many prompt tokens came from the slot's cache; the final chunk's ``timings`` say it
  again). No ``timings_per_token``: it made every token's event three times longer (nine
  timing figures), for llama-server to format and for us to parse, and told nothing the
  first progress chunk had not.
* ``openai`` -- vLLM's and SGLang's ``POST /v1/completions`` with a token-id ``prompt``,
  ``return_token_ids`` (the sampled ids of each chunk), ``structured_outputs.grammar``,
  ``cache_salt`` (prefix-cache isolation per namespace) and continuous usage stats
  (``prompt_tokens_details.cached_tokens``, with ``--enable-prompt-tokens-details``).

A dialect turns one :class:`~epistula.engines.base.SamplingParams` into a request body and
one decoded SSE ``data:`` payload into a :class:`Chunk`; the transport is elsewhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from epistula.engines.base import FinishReason, SamplingParams

DialectName = Literal["llama", "openai"]

PATTERN_TRIGGER = 2
"""llama-server's ``COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN``: a regex on the output text; the
grammar applies from the match's start (a ``WORD`` trigger must be one preserved token)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one upstream stream event says, in engine terms."""

    tokens: tuple[int, ...] = ()
    cached: int | None = None
    """Prompt tokens the upstream reused from its cache, when this event says so."""
    progress: tuple[int, int] | None = None
    """Prefill progress ``(done, total)``."""
    finish: FinishReason | None = None
    prompt_tokens: int | None = None


class UpstreamProtocolError(Exception):
    """The upstream sent something this dialect cannot read."""


class Dialect(Protocol):
    name: DialectName
    generate_path: str
    tokenize_path: str
    health_path: str

    def body(self, prompt: list[int], sampling: SamplingParams, namespace: str, model: str) -> dict[str, Any]: ...

    def parse(self, data: Mapping[str, Any]) -> Chunk: ...

    def tokenize_body(self, text: str, model: str) -> dict[str, Any]: ...

    def tokens_of(self, data: Mapping[str, Any]) -> list[int]: ...

    def context_window(self, data: Mapping[str, Any]) -> int | None:
        """The window from the document at :attr:`info_path`, if it says."""
        ...

    @property
    def info_path(self) -> str: ...


def _ints(value: object) -> tuple[int, ...]:
    if type(value) is list and len(value) == 1 and type(value[0]) is int:
        return (value[0],)  # the usual event: one sampled token
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise UpstreamProtocolError(f"expected a list of token ids, got {value!r:.80}")
    return tuple(value)


class LlamaServer:
    """llama-server ``/completion`` (b4000 and later: ``return_tokens``, numeric triggers)."""

    name: DialectName = "llama"
    generate_path = "/completion"
    tokenize_path = "/tokenize"
    health_path = "/health"
    info_path = "/props"

    def body(self, prompt: list[int], sampling: SamplingParams, namespace: str, model: str) -> dict[str, Any]:
        greedy = sampling.temperature <= 0.0
        body: dict[str, Any] = {
            "prompt": prompt,
            "n_predict": max(sampling.max_tokens, 1),
            "stream": True,
            "cache_prompt": True,
            "return_tokens": True,
            "return_progress": True,
            "temperature": 0.0 if greedy else sampling.temperature,
            # llama-server's own defaults (top_k 40, top_p 0.95, min_p 0.05) would change the
            # distribution; send epistula's, with everything it does not use switched off.
            "top_k": sampling.top_k or 0,
            "top_p": 1.0 if sampling.top_p is None else sampling.top_p,
            "min_p": 0.0,
            "repeat_penalty": 1.0 if greedy or _strict(sampling) else sampling.repeat_penalty,
            "repeat_last_n": 64,
            "samplers": ["penalties", "top_k", "top_p", "temperature"],
            "seed": -1 if sampling.seed is None else sampling.seed & 0xFFFFFFFF,
        }
        if sampling.grammar is not None:
            body["grammar"] = sampling.grammar
            if sampling.grammar_triggers:
                body["grammar_lazy"] = True
                body["grammar_triggers"] = [
                    {"type": PATTERN_TRIGGER, "value": re.escape(t)} for t in sampling.grammar_triggers
                ]
        return body

    def parse(self, data: Mapping[str, Any]) -> Chunk:
        if data.get("stop") is False and "prompt_progress" not in data and "timings" not in data:
            # A sampled token (nearly every event): its ids are all that matter.
            return Chunk(tokens=_ints(data.get("tokens", [])))
        progress = data.get("prompt_progress")
        if isinstance(progress, dict):
            # Progress events carry a placeholder token (0): it was not sampled.
            return Chunk(
                cached=int(progress.get("cache", 0)),
                progress=(int(progress.get("processed", 0)), int(progress.get("total", 0))),
            )
        timings = data.get("timings")
        cached = int(timings["cache_n"]) if isinstance(timings, dict) and "cache_n" in timings else None
        finish: FinishReason | None = None
        if data.get("stop") is True:
            finish = "max_tokens" if data.get("stop_type") == "limit" else "eos"
            if data.get("truncated") is True:
                finish = "context_window"
        evaluated = data.get("tokens_evaluated")
        return Chunk(
            tokens=_ints(data.get("tokens", [])),
            cached=cached,
            finish=finish,
            prompt_tokens=int(evaluated) if isinstance(evaluated, int) else None,
        )

    def tokenize_body(self, text: str, model: str) -> dict[str, Any]:
        return {"content": text, "add_special": False, "parse_special": True}

    def tokens_of(self, data: Mapping[str, Any]) -> list[int]:
        return list(_ints(data.get("tokens")))

    def context_window(self, data: Mapping[str, Any]) -> int | None:
        settings = data.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None


class OpenAICompletions:
    """vLLM / SGLang ``/v1/completions`` with token-id prompts."""

    name: DialectName = "openai"
    generate_path = "/v1/completions"
    tokenize_path = "/tokenize"
    health_path = "/health"
    info_path = "/v1/models"

    def body(self, prompt: list[int], sampling: SamplingParams, namespace: str, model: str) -> dict[str, Any]:
        greedy = sampling.temperature <= 0.0
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": max(sampling.max_tokens, 1),
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
            "return_token_ids": True,
            "skip_special_tokens": False,
            "add_special_tokens": False,
            "temperature": 0.0 if greedy else sampling.temperature,
            "top_p": 1.0 if sampling.top_p is None else sampling.top_p,
            "top_k": sampling.top_k or -1,
            "min_p": 0.0,
            "repetition_penalty": 1.0 if greedy or _strict(sampling) else sampling.repeat_penalty,
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if namespace:
            # Prefix reuse never crosses namespaces: vLLM salts its block hashes with this.
            body["cache_salt"] = hashlib.sha256(namespace.encode()).hexdigest()
        if sampling.grammar is not None and not sampling.grammar_triggers:
            # A lazy grammar (free text until a trigger) has no equivalent here: the
            # output stays free and the tool-call parser above reads it as it comes.
            body["structured_outputs"] = {"grammar": sampling.grammar}
        return body

    def parse(self, data: Mapping[str, Any]) -> Chunk:
        usage = data.get("usage")
        cached: int | None = None
        prompt_tokens: int | None = None
        if isinstance(usage, dict):
            prompt_tokens = usage.get("prompt_tokens")
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
                cached = details["cached_tokens"]
        choices = data.get("choices") or []
        if not choices:
            return Chunk(cached=cached, prompt_tokens=prompt_tokens)
        choice = choices[0]
        reason = choice.get("finish_reason")
        finish: FinishReason | None = None
        if reason == "length":
            finish = "max_tokens"
        elif reason is not None:
            finish = "eos"
        return Chunk(
            tokens=_ints(choice.get("token_ids") or []),
            cached=cached,
            finish=finish,
            prompt_tokens=prompt_tokens,
        )

    def tokenize_body(self, text: str, model: str) -> dict[str, Any]:
        return {"model": model, "prompt": text, "add_special_tokens": False}

    def tokens_of(self, data: Mapping[str, Any]) -> list[int]:
        return list(_ints(data.get("tokens")))

    def context_window(self, data: Mapping[str, Any]) -> int | None:
        models = data.get("data")
        if isinstance(models, list) and models and isinstance(models[0], dict):
            window = models[0].get("max_model_len")
            return int(window) if isinstance(window, int) and window > 0 else None
        return None


def _strict(sampling: SamplingParams) -> bool:
    """A strict grammar is left exact (no repetition penalty), as the local engine does."""
    return sampling.grammar is not None and not sampling.grammar_triggers


DIALECTS: dict[DialectName, Dialect] = {"llama": LlamaServer(), "openai": OpenAICompletions()}


def parse_upstream(spec: str) -> tuple[DialectName, str]:
    """``URL`` (llama-server) or ``openai+URL`` / ``vllm+URL`` / ``sglang+URL``."""
    scheme, plus, rest = spec.partition("+")
    if plus and scheme in ("openai", "vllm", "sglang"):
        return "openai", rest.rstrip("/")
    if plus and scheme in ("llama", "llamacpp"):
        return "llama", rest.rstrip("/")
    return "llama", spec.rstrip("/")
