"""Validate a Messages request against its model and turn it into engine input.

Shared by ``/v1/messages``, ``/v1/messages/count_tokens`` (same rendering, so the
count equals the billed ``input_tokens`` exactly) and, later, batch processing.
"""

from __future__ import annotations

from dataclasses import dataclass

from epistula import validation
from epistula.catalog import Catalog, ServedModel
from epistula.engines.base import SamplingParams
from epistula.errors import InvalidRequestError
from epistula.prompting.render import render_prompt
from epistula.protocol.messages import MessageCountTokensParams, MessageCreateParams

from .pipeline import PreparedMessage


@dataclass(frozen=True, slots=True)
class TokenizedPrompt:
    model: ServedModel
    ids: tuple[int, ...]
    prefill: str


def tokenize_prompt(
    params: MessageCreateParams | MessageCountTokensParams, catalog: Catalog
) -> TokenizedPrompt:
    model = catalog.resolve(params.model)
    validation.check_messages(params)
    validation.check_supported(params, model_id=params.model)
    rendered = render_prompt(params, model.template)
    ids = tuple(model.engine.tokenize(rendered.text))
    return TokenizedPrompt(model=model, ids=ids, prefill=rendered.prefill)


def sampling_params(params: MessageCreateParams) -> SamplingParams:
    temperature = 1.0 if params.temperature is None else params.temperature
    return SamplingParams(
        max_tokens=params.max_tokens,
        temperature=temperature,
        top_p=params.top_p,
        top_k=params.top_k if params.top_k else None,
    )


def prepare_message(
    params: MessageCreateParams, catalog: Catalog, *, version: str, cache_namespace: str = ""
) -> PreparedMessage:
    model = catalog.resolve(params.model)
    validation.check_create(
        params, model_id=params.model, max_output_tokens=model.max_output_tokens, version=version
    )
    prompt = tokenize_prompt(params, catalog)
    window = model.context_window
    if len(prompt.ids) >= window:
        raise InvalidRequestError(f"prompt is too long: {len(prompt.ids)} tokens > {window - 1} maximum")
    return PreparedMessage(
        model=params.model,
        prompt=prompt.ids,
        sampling=sampling_params(params),
        stop_sequences=tuple(params.stop_sequences or ()),
        cache_namespace=cache_namespace,
    )
