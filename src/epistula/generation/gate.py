"""The gate every generation passes: admission before, metering after.

A :class:`Gate` holds an ordered list of :class:`Hook` objects (rate limits, spend
limits, usage rows, metrics...). ``admit`` runs each hook's ``admit`` in order; a hook
refuses a request by raising an :class:`~epistula.errors.ApiError` (429, 400...), and
hooks already passed get ``release`` so they can give back what they reserved. Hooks may
add response headers to ``Admission.headers``. ``finish`` runs every hook's ``finish``
once, with the final ``usage`` (``None`` when no message was produced) and an outcome.

Live requests (``POST /v1/messages``) and batch items both pass the gate, so usage rows
and limits see the same traffic; ``Admission.batch`` tells them apart. Token counting
(``POST /v1/messages/count_tokens``) is admitted too, as ``kind="count_tokens"``, but only
by the hooks added with ``count_tokens=True`` (rate limits: it is free, so it writes no
usage row and meets no spend limit).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel

from epistula.auth.keys import Principal
from epistula.protocol.usage import Usage

Outcome = Literal["succeeded", "errored", "canceled"]
AdmissionKind = Literal["message", "count_tokens"]
E = TypeVar("E", bound=BaseModel)


@dataclass(slots=True)
class Admission:
    """One request on its way through the gate."""

    request_id: str
    principal: Principal
    model: str
    """The served model's id (aliases resolved)."""
    input_tokens: int
    """Prompt tokens, counted before generation (what input-token limits see up front)."""
    max_tokens: int
    batch: bool = False
    kind: AdmissionKind = "message"
    """``count_tokens``: a token count (``input_tokens`` is 0 at admission, the count at finish)."""
    started: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers hooks want sent (``anthropic-ratelimit-*``...)."""
    first_token_at: float | None = None
    output_tokens: int = 0
    """Output tokens produced so far (updated while streaming)."""
    scratch: dict[str, object] = field(default_factory=dict)
    """Per-hook state, keyed by the hook's own name."""
    finished: bool = False
    """Set by ``Gate.finish``: hooks see each admission finish exactly once."""


class Hook(Protocol):
    async def admit(self, admission: Admission) -> None:
        """Raise an ``ApiError`` to refuse the request."""

    async def release(self, admission: Admission) -> None:
        """A later hook refused the request after this one admitted it."""

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        """The request is over; ``usage`` is what was billed (``None``: nothing was)."""


class Gate:
    def __init__(self, hooks: Sequence[Hook] = ()) -> None:
        self.hooks: list[Hook] = list(hooks)
        self.count_hooks: list[Hook] = []
        """The hooks that also admit token counts."""

    def add(self, hook: Hook, *, count_tokens: bool = False) -> None:
        self.hooks.append(hook)
        if count_tokens:
            self.count_hooks.append(hook)

    def _hooks(self, admission: Admission) -> list[Hook]:
        return self.count_hooks if admission.kind == "count_tokens" else self.hooks

    async def admit(self, admission: Admission) -> Admission:
        passed: list[Hook] = []
        try:
            for hook in self._hooks(admission):
                await hook.admit(admission)
                passed.append(hook)
        except BaseException:
            for hook in reversed(passed):
                await hook.release(admission)
            raise
        return admission

    async def finish(self, admission: Admission, usage: Usage | None, outcome: Outcome) -> None:
        """Idempotent: only the first call for an admission reaches the hooks."""
        if admission.finished:
            return
        admission.finished = True
        for hook in self._hooks(admission):
            await hook.finish(admission, usage, outcome)


async def metered(events: AsyncIterator[E], gate: Gate, admission: Admission) -> AsyncGenerator[E]:
    """Pass a message event stream through, keeping ``admission`` up to date and calling
    ``gate.finish`` exactly once when the stream ends, fails or is abandoned."""
    usage: Usage | None = None
    outcome: Outcome = "canceled"
    try:
        async for event in events:
            kind = getattr(event, "type", None)
            if kind == "message_start":
                usage = Usage.model_validate(event.message.usage.model_dump())  # type: ignore[attr-defined]
            elif kind == "content_block_delta" and admission.first_token_at is None:
                admission.first_token_at = time.monotonic()
            elif kind == "message_delta" and usage is not None:
                delta = event.usage  # type: ignore[attr-defined]
                # Cumulative totals: a server-tool loop's later steps read their prompts too.
                totals = {k: v for k, v in delta if v is not None and k in Usage.model_fields}
                usage = usage.model_copy(update=totals)
                admission.output_tokens = delta.output_tokens
            elif kind == "message_stop":
                outcome = "succeeded"
            yield event
    except Exception:
        outcome = "errored"
        raise
    finally:
        await gate.finish(admission, usage if outcome == "succeeded" else _partial(usage, admission), outcome)


def _partial(usage: Usage | None, admission: Admission) -> Usage | None:
    """What an unfinished request still consumed (its prompt, and output so far)."""
    if usage is None:
        return None
    return usage.model_copy(update={"output_tokens": admission.output_tokens})
