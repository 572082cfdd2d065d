"""vLLM in process: :class:`vllm.v1.engine.async_llm.AsyncLLM` behind the Engine protocol.

* Prompts go in as token ids (``TokensPrompt``) from epistula's own rendering, so
  ``count_tokens`` and the usage agree exactly with what ran; vLLM's chat templates and
  detokenizer are not used (``detokenize=False``: the ids are decoded above the engine).
* Sampling is per request (``SamplingParams``); a strict grammar (tools with
  ``tool_choice`` any/tool, ``output_config.format``) goes to vLLM's structured outputs as
  the same GBNF the llama.cpp engine gets. A lazy grammar (``tool_choice: auto``) has no
  vLLM equivalent: the output stays free and the tool-call parser reads it.
* The cache namespace salts vLLM's prefix-cache block hashes (``cache_salt``), so
  workspaces never share cached prefixes; ``cache_read_input_tokens`` comes from vLLM's
  own ``num_cached_tokens`` (automatic prefix caching), read at the longest breakpoint
  it covers, never estimated.
* Closing the stream closes vLLM's ``generate`` generator, which aborts the request in
  the engine core at its next step.
* Tensor and pipeline parallelism (and several nodes with ``ray``) are vLLM's own:
  :class:`VllmOptions` passes them through to ``AsyncEngineArgs``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from epistula.engines.base import (
    EngineError,
    EngineStats,
    Finished,
    FinishReason,
    GenerationRequest,
    ModelFacts,
    PromptTooLong,
    Token,
    TokenEvent,
)
from epistula.engines.cache_usage import split_usage
from epistula.engines.vllm.pieces import PieceTable

log = logging.getLogger(__name__)
_ids = itertools.count()


@dataclass(frozen=True, slots=True)
class VllmOptions:
    max_model_len: int | None = None
    max_num_seqs: int = 16
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    distributed_executor_backend: str | None = None
    gpu_memory_utilization: float = 0.9
    prompt_cache_min_tokens: int = 1024


def vllm_available() -> bool:
    """vLLM is installed and sees a CUDA device."""
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class VllmEngine:
    """An :class:`~epistula.engines.base.Engine` running vLLM's ``AsyncLLM`` in this process."""

    def __init__(self, model: str, *, name: str, options: VllmOptions | None = None) -> None:
        self._model = model
        self._name = name
        self._options = options or VllmOptions()
        self._llm: Any = None
        self._tokenizer: Any = None
        self._pieces: PieceTable | None = None
        self._facts: ModelFacts | None = None
        self._active = 0
        self._reused = 0
        self._prefilled = 0
        self._closed = False

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        if self._llm is not None:
            return
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineError("the vllm engine needs vLLM: pip install 'epistula[vllm]'") from exc
        opts = self._options
        args = AsyncEngineArgs(
            model=self._model,
            served_model_name=[self._name],
            max_model_len=opts.max_model_len,
            max_num_seqs=opts.max_num_seqs,
            tensor_parallel_size=opts.tensor_parallel_size,
            pipeline_parallel_size=opts.pipeline_parallel_size,
            distributed_executor_backend=opts.distributed_executor_backend,
            gpu_memory_utilization=opts.gpu_memory_utilization,
            enable_prefix_caching=True,
            scheduling_policy="priority",  # batch work (a higher number) yields to live requests
            disable_log_stats=True,
        )
        self._llm = AsyncLLM.from_engine_args(args)
        tokenizer = getattr(self._llm, "tokenizer", None)
        if tokenizer is None:
            tokenizer = await self._llm.get_tokenizer()
        self._tokenizer = tokenizer
        self._pieces = PieceTable(tokenizer)
        self._facts = None
        log.info("vLLM engine %s ready: window=%d", self._name, self.facts.context_window)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._llm is not None:
            self._llm.shutdown()
            self._llm = None

    def _started(self) -> Any:
        if self._llm is None:
            raise EngineError("the vLLM engine is not started")
        return self._llm

    # -- model facts ------------------------------------------------------

    @property
    def facts(self) -> ModelFacts:
        if self._facts is None:
            llm = self._started()
            tok = self._tokenizer
            eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
            configured = getattr(llm.model_config.hf_config, "eos_token_id", None)
            eos |= set(configured) if isinstance(configured, list) else ({configured} if configured else set())
            added = getattr(tok, "added_tokens_decoder", {})
            control = {t.content for t in added.values() if getattr(t, "special", False)}
            self._facts = ModelFacts(
                name=self._name,
                context_window=int(llm.model_config.max_model_len),
                chat_template=getattr(tok, "chat_template", None) or "",
                bos_token=tok.bos_token or "",
                eos_token=tok.eos_token or "",
                eog_token_ids=frozenset(eos),
                vocab_size=len(tok),
                supports_grammar=True,
                control_tokens=frozenset(control | set(tok.all_special_tokens)),
            )
        return self._facts

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        self._started()
        ids = self._tokenizer.encode(text, add_special_tokens=False, split_special_tokens=not special)
        return list(ids)

    def detokenize(self, ids: list[int]) -> str:
        self._started()
        return str(self._tokenizer.decode(ids, skip_special_tokens=False))

    def stats(self) -> EngineStats:
        return EngineStats(
            active_sequences=self._active, prompt_tokens_reused=self._reused, prompt_tokens_prefilled=self._prefilled
        )

    # -- generation -------------------------------------------------------

    def _params(self, request: GenerationRequest) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        s = request.sampling
        greedy = s.temperature <= 0.0
        strict = s.grammar is not None and not s.grammar_triggers
        return SamplingParams(
            n=1,
            temperature=0.0 if greedy else s.temperature,
            top_p=1.0 if s.top_p is None else s.top_p,
            top_k=s.top_k or 0,
            min_p=0.0,
            seed=s.seed,
            repetition_penalty=1.0 if greedy or strict else s.repeat_penalty,
            max_tokens=max(s.max_tokens, 1),
            detokenize=False,
            skip_special_tokens=False,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=StructuredOutputsParams(grammar=s.grammar) if strict else None,
        )

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        if self._closed:
            raise EngineError("engine shut down")
        llm = self._started()
        window = self.facts.context_window
        if len(request.prompt) > window:
            raise PromptTooLong(len(request.prompt), window)
        if not request.prompt:
            raise EngineError("empty prompt")
        from vllm import TokensPrompt

        prompt = TokensPrompt(prompt_token_ids=list(request.prompt))
        if request.cache_namespace:
            prompt["cache_salt"] = request.cache_namespace
        points = tuple(p for p in request.cache_points if p.offset >= self._options.prompt_cache_min_tokens)
        request_id = f"{request.request_id or 'epistula'}-{next(_ids)}"
        eog = self.facts.eog_token_ids
        pieces = self._pieces
        assert pieces is not None
        produced = 0
        cached: int | None = None
        reason: FinishReason = "eos"
        self._active += 1
        outputs = llm.generate(prompt, self._params(request), request_id, priority=request.priority)
        try:
            async for out in outputs:
                if cached is None:
                    cached = int(out.num_cached_tokens or 0)
                    if request.cache_points:
                        yield split_usage(max((p.offset for p in points if p.offset <= cached), default=0), points)
                completion = out.outputs[0]
                for token in completion.token_ids:
                    if token in eog:
                        continue
                    produced += 1
                    if request.sampling.max_tokens:
                        yield Token(id=token, piece=pieces(token))
                if completion.finish_reason is not None:
                    if completion.finish_reason == "abort":
                        raise EngineError("vLLM aborted the request")
                    reason = "max_tokens" if completion.finish_reason == "length" else "eos"
                    if reason == "max_tokens" and len(request.prompt) + produced >= window:
                        reason = "context_window"
        except EngineError:
            raise
        except Exception as exc:  # vLLM's EngineGenerateError, EngineDeadError, validation errors
            raise EngineError(f"vLLM: {exc!r}") from exc
        finally:
            self._active -= 1
            with contextlib.suppress(Exception):
                await outputs.aclose()  # aborts the request in the engine core if still running
        reused = min(cached or 0, len(request.prompt))
        self._reused += reused
        self._prefilled += len(request.prompt) - reused
        output = produced if request.sampling.max_tokens else 0
        yield Finished(reason=reason, prompt_tokens=len(request.prompt), output_tokens=output, cached_tokens=reused)
