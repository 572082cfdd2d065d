"""A deterministic engine for protocol tests: byte-level tokenizer, scripted replies.

Tokens are UTF-8 bytes (ids 0-255) plus a few ChatML special tokens, so counts are
exact and predictable and multi-byte characters really do span several tokens.

The reply is chosen from directives in the *last user turn* of the prompt:

* ``#say:TEXT`` (to the end of the line; ``\\n`` is a newline) -> reply exactly TEXT, then end of turn.
* ``#fail-before`` -> raise :class:`EngineError` before the first token.
* ``#fail-after:N`` -> emit N tokens, then raise :class:`EngineError`.
* ``#overload`` -> raise :class:`EngineOverloaded` at admission.
* ``#slow:MS`` -> wait MS milliseconds before each token.
* ``#prefill:MS`` -> wait MS milliseconds before the first token.
* ``#forever`` -> never stop on its own (until max_tokens or the window).
* ``#think:TEXT`` -> first write ``<think>\nTEXT\n</think>\n\n`` (a reasoning model), unless
  the assistant turn already closed its thinking section.
* ``#think-long`` -> think for a long time (3,000 tokens), for budget tests.
* A prompt that ends inside an opened ``<think>`` section (epistula makes a model that does
  not reason natively think) -> the thought (``#think``'s, else ``Thinking it over.``),
  ``</think>``, then the reply.

Without a directive the reply is ``You said: <last user text>``.

Prompt caching goes through the same :class:`~epistula.engines.prefix_store.PromptCache`
as the llama.cpp engine (entries carry only a size, :data:`KV_BYTES_PER_TOKEN`
per token), so usage arithmetic, TTLs, eviction and namespace isolation can be
tested fast; ``Finished.cached_tokens`` is the breakpoint prefix read.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from epistula.engines.prefix_store import PromptCache, Snapshot

from .base import (
    EngineError,
    EngineOverloaded,
    EngineStats,
    Finished,
    FinishReason,
    GenerationRequest,
    ModelFacts,
    PromptProgress,
    PromptTooLong,
    Token,
    TokenEvent,
)

SPECIALS = {"<|im_start|>": 256, "<|im_end|>": 257, "<|endoftext|>": 258}
_SPECIAL_TEXT = {v: k for k, v in SPECIALS.items()}
_SPECIAL_RE = re.compile("|".join(re.escape(s) for s in SPECIALS))
EOS = SPECIALS["<|im_end|>"]
KV_BYTES_PER_TOKEN = 1024
"""What a cached prompt token "costs" against the prompt-cache budget."""


class FakeEngine:
    def __init__(
        self,
        *,
        name: str = "fake",
        context_window: int = 8192,
        max_active: int = 16,
        prompt_cache_bytes: int = 1 << 30,
        prompt_cache_min_tokens: int = 1024,
    ) -> None:
        self._facts = ModelFacts(
            name=name,
            context_window=context_window,
            chat_template="",  # like a GGUF without one: the catalog falls back to ChatML
            eos_token="<|im_end|>",
            eog_token_ids=frozenset({EOS, SPECIALS["<|endoftext|>"]}),
            vocab_size=259,
            supports_grammar=False,
            control_tokens=frozenset(SPECIALS),
        )
        self._slots = asyncio.Semaphore(max_active)
        self.active = 0
        self.waiting = 0
        self._reused = 0
        self._prefilled = 0
        self.prompt_cache = PromptCache(
            budget_bytes=prompt_cache_bytes, min_tokens=prompt_cache_min_tokens, bytes_per_token=KV_BYTES_PER_TOKEN
        )

    @property
    def facts(self) -> ModelFacts:
        return self._facts

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        if not special:
            return list(text.encode())
        ids: list[int] = []
        pos = 0
        for match in _SPECIAL_RE.finditer(text):
            ids.extend(text[pos : match.start()].encode())
            ids.append(SPECIALS[match.group()])
            pos = match.end()
        ids.extend(text[pos:].encode())
        return ids

    def detokenize(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            out += _SPECIAL_TEXT[i].encode() if i in _SPECIAL_TEXT else bytes([i])
        return out.decode("utf-8", errors="replace")

    async def start(self) -> None:
        return None

    def stats(self) -> EngineStats:
        return EngineStats(
            queue_depth=self.waiting,
            active_sequences=self.active,
            prompt_tokens_reused=self._reused,
            prompt_tokens_prefilled=self._prefilled,
        )

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """A sequence slot; ``waiting`` counts those queued for one."""
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._slots.release()

    async def close(self) -> None:
        return None

    def _last_user_text(self, prompt: tuple[int, ...]) -> str:
        text = self.detokenize(list(prompt))
        marker = "<|im_start|>user\n"
        start = text.rfind(marker)
        if start == -1:
            return text
        body = text[start + len(marker) :]
        return body.split("<|im_end|>", 1)[0]

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        if len(request.prompt) > self._facts.context_window:
            raise PromptTooLong(len(request.prompt), self._facts.context_window)
        user = self._last_user_text(request.prompt)
        if "#overload" in user:
            raise EngineOverloaded("fake engine overloaded")
        if "#fail-before" in user:
            raise EngineError("injected failure before the first token")
        said = re.search(r"#say:(.*)", user)
        reply = said.group(1).replace("\\n", "\n") if said else f"You said: {user}"
        after_user = self.detokenize(list(request.prompt)).rsplit("<|im_start|>user\n", 1)[-1]
        already_thought = "</think>" in after_user
        think = re.search(r"#think:(.*)", user)
        thought = think.group(1) if think else ("x " * 1500 if "#think-long" in user else None)
        if after_user.endswith("<think>\n"):
            reply = f"{thought or 'Thinking it over.'}\n</think>\n\n{reply}"
        elif thought is not None and not already_thought:
            reply = f"<think>\n{thought}\n</think>\n\n{reply}"
        forever = "#forever" in user
        fail_after = _int_directive(user, "fail-after")
        per_token = _int_directive(user, "slow") or 0
        prefill = _int_directive(user, "prefill") or 0
        plan = None
        if request.cache_points:
            plan = self.prompt_cache.plan(request.cache_namespace, request.prompt, request.cache_points)
            yield plan.usage
        async with self._slot():
            self.active += 1
            try:
                if prefill:
                    await asyncio.sleep(prefill / 1000)
                    yield PromptProgress(done=len(request.prompt), total=len(request.prompt))
                cached = 0
                if plan is not None:
                    cached = plan.usage.read
                    if plan.write_at:
                        prefix = request.prompt[: plan.write_at]
                        snapshot = Snapshot(tokens=prefix, data=None, nbytes=len(prefix) * KV_BYTES_PER_TOKEN)
                        self.prompt_cache.commit(request.cache_namespace, snapshot, plan.writes)
                data = reply.encode()
                async for event in self._emit(request, data, forever, fail_after, per_token, cached):
                    if isinstance(event, Finished):
                        self._reused += event.cached_tokens
                        self._prefilled += event.prompt_tokens - event.cached_tokens
                    yield event
            finally:
                self.active -= 1

    async def _emit(
        self,
        request: GenerationRequest,
        data: bytes,
        forever: bool,
        fail_after: int | None,
        per_token: int,
        cached: int,
    ) -> AsyncIterator[TokenEvent]:
        window = self._facts.context_window
        produced = 0
        reason: FinishReason = "eos"
        while True:
            if produced >= request.sampling.max_tokens:
                reason = "max_tokens"
                break
            if len(request.prompt) + produced >= window:
                reason = "context_window"
                break
            if fail_after is not None and produced >= fail_after:
                raise EngineError("injected failure mid-stream")
            if not forever and produced >= len(data):
                break
            byte = data[produced % len(data)] if data else ord(".")
            if per_token:
                await asyncio.sleep(per_token / 1000)
            else:
                await asyncio.sleep(0)
            produced += 1
            yield Token(id=byte, piece=bytes([byte]))
        yield Finished(reason=reason, prompt_tokens=len(request.prompt), output_tokens=produced, cached_tokens=cached)


def _int_directive(text: str, name: str) -> int | None:
    match = re.search(rf"#{name}:(\d+)", text)
    return int(match.group(1)) if match else None
