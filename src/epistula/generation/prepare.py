"""Validate a Messages request against its model and turn it into engine input.

Shared by ``/v1/messages``, ``/v1/messages/count_tokens`` (same rendering, so the
count equals the billed ``input_tokens`` exactly) and batch processing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from epistula.config import SamplingDefaults
from epistula.constraints.tools import Constraint, json_after_thinking_grammar, json_output_grammar, tool_call_grammar
from epistula.engines.base import CachePoint, EngineError, PromptImage, SamplingParams
from epistula.errors import InvalidRequestError
from epistula.generation import compat, validation
from epistula.generation.context_edits import EditedPrompt, apply_edits
from epistula.generation.thinking import ThinkingSigner
from epistula.models.catalog import ServedModel
from epistula.prompting.breakpoints import find_breakpoints
from epistula.prompting.images import ImagePrompt, image_blocks
from epistula.prompting.markup import Span, Tokenizer, control_tokens, tokenize_rendered
from epistula.prompting.prefixes import PrefixMeter
from epistula.prompting.render import RenderedPrompt, render_prompt
from epistula.prompting.tools import tool_instructions, tool_spec, visible_tools
from epistula.protocol.messages import (
    AssistantMessageParam,
    ContextManagementResponse,
    KnownEffort,
    MessageCreateParams,
    PromptParams,
    SystemMessageParam,
    ThinkingConfigAdaptive,
    ThinkingConfigBetweenTools,
    ThinkingConfigEnabled,
)
from epistula.protocol.tools import Tool, ToolChoiceAny, ToolChoiceNone, ToolChoiceTool

from .output import ThinkingDisplay
from .pipeline import PreparedMessage


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """What the request's ``tools``/``tool_choice``/output format mean for generation."""

    tools: list[Tool]
    forced: bool = False
    single_call: bool = False
    json_schema: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return bool(self.tools)


def plan_tools(params: PromptParams) -> ToolPlan:
    fmt = params.output_config.format if params.output_config else None
    fmt = fmt or params.output_format
    schema = dict(fmt.schema_) if fmt is not None else None
    choice = params.tool_choice
    tools = visible_tools(params.tools)
    if isinstance(choice, ToolChoiceNone) or not tools:
        return ToolPlan(tools=[], json_schema=schema)
    if isinstance(choice, ToolChoiceTool):
        chosen = [t for t in tools if t.name == choice.name]
        if not chosen:
            raise InvalidRequestError(f"tool_choice.tool.name: tool `{choice.name}` is not in `tools`")
        return ToolPlan(tools=tools, forced=True, single_call=True, json_schema=schema)
    if isinstance(choice, ToolChoiceAny):
        return ToolPlan(tools=tools, forced=True, single_call=bool(choice.disable_parallel_tool_use))
    single = bool(choice is not None and choice.disable_parallel_tool_use)
    return ToolPlan(tools=tools, single_call=single, json_schema=schema)


def _extra_system(params: PromptParams, plan: ToolPlan, native_tools: bool) -> str:
    parts: list[str] = []
    if plan.active and not native_tools:
        required = None
        choice = params.tool_choice
        if isinstance(choice, ToolChoiceTool):
            required = f"You must call the function `{choice.name}` now."
        elif isinstance(choice, ToolChoiceAny):
            required = "You must call one of the functions now."
        parts.append(tool_instructions(plan.tools, required=required))
    if plan.json_schema is not None and not plan.active:
        parts.append(
            "Respond only with a JSON value that matches this JSON Schema:\n"
            + json.dumps(plan.json_schema, ensure_ascii=False)
        )
    return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class TokenizedPrompt:
    model: ServedModel
    ids: tuple[int, ...]
    prefill: str
    plan: ToolPlan
    text: str = ""
    """The rendered prompt that ``ids`` tokenize."""
    markup: tuple[Span, ...] | None = None
    """Where ``text`` holds template control tokens (``None``: wherever it has them)."""
    has_breakpoints: bool = False
    """The request has ``cache_control`` breakpoints (explicit or automatic)."""
    edits: EditedPrompt | None = None
    """The conversation after ``context_management`` edits (what ``ids`` render) and what they did."""
    opened_thinking: bool = False
    """The prompt ends with :data:`THINK_OPEN`: a model that does not reason natively is
    made to (the request asked for thinking)."""
    images: tuple[PromptImage, ...] = ()
    """The image embedding runs of ``ids`` (a vision model's)."""
    tokenizer: Tokenizer | None = None
    """What tokenized ``ids`` (the engine's, or an :class:`ImagePrompt` over it)."""


THINK_OPEN = "<think>\n"
EFFORT_BUDGETS: dict[KnownEffort, int] = {"low": 256, "medium": 512, "high": 1024, "xhigh": 2048, "max": 4096}
"""``thinking: adaptive``: the thinking budget for ``output_config.effort`` (absent: ``high``),
never more than half of ``max_tokens`` so that an answer always has room."""


def opens_thinking(params: PromptParams, model: ServedModel) -> bool:
    """Thinking asked for, a model that does not think by itself, and no assistant prefill
    to continue: the prompt opens the ``<think>`` section for it."""
    thinking = params.thinking
    if model.reasoning or not isinstance(thinking, (ThinkingConfigEnabled, ThinkingConfigAdaptive)):
        return False
    return bool(params.messages) and not isinstance(params.messages[-1], AssistantMessageParam)


def effort(params: PromptParams) -> KnownEffort:
    """The effort in force: the newest mid-conversation ``output_config``, else the request's."""
    value = params.output_config.effort if params.output_config else None
    for message in params.messages:
        if isinstance(message, SystemMessageParam) and message.output_config and message.output_config.effort:
            value = message.output_config.effort
    return compat.effort_level(value)


def _render(params: PromptParams, model: ServedModel) -> tuple[RenderedPrompt, ToolPlan]:
    plan = plan_tools(params)
    native = model.native_tools
    rendered = render_prompt(
        params,
        model.template,
        extra_system=_extra_system(params, plan, native),
        tools=[tool_spec(t) for t in plan.tools] if plan.active and native else None,
        thinking=opens_thinking(params, model),
        controls=control_tokens(model.engine.facts.control_tokens),
    )
    return rendered, plan


def tokenize_prompt(params: PromptParams, model: ServedModel) -> TokenizedPrompt:
    """Validate the conversation and render and tokenize it for ``model``; shared by
    generation and ``count_tokens``, so the count equals the billed input exactly."""
    validation.check_messages(params)
    vision = model.vision
    validation.check_supported(params, model_id=params.model, vision=vision is not None)
    tokenize: Tokenizer = model.engine.tokenize
    images: ImagePrompt | None = None
    if vision is not None and next(image_blocks(params), None) is not None:
        try:
            images = ImagePrompt.of(params, model.engine.tokenize, vision)
        except EngineError as exc:
            raise InvalidRequestError(f"messages: Could not process image: {exc}") from None
        tokenize = images
    edits = apply_edits(
        params, lambda p: len(tokenize(_render(p, model)[0].text, special=True)), window=model.context_window
    )
    params = edits.params
    breakpoints = find_breakpoints(params)  # the API's cache_control rules (automatic caching, TTL order)
    rendered, plan = _render(params, model)
    opened = opens_thinking(params, model)
    text = rendered.text + (THINK_OPEN if opened else "")
    ids = tuple(tokenize_rendered(tokenize, text, rendered.markup))
    return TokenizedPrompt(
        model=model,
        ids=ids,
        prefill=rendered.prefill,
        plan=plan,
        text=text,
        markup=rendered.markup,
        has_breakpoints=bool(breakpoints),
        edits=edits,
        opened_thinking=opened,
        images=images.runs(ids) if images is not None else (),
        tokenizer=tokenize,
    )


def cache_points(params: PromptParams, prompt: TokenizedPrompt) -> tuple[CachePoint, ...]:
    """Token offsets (with TTL and lookback) of the request's ``cache_control`` breakpoints."""
    if not prompt.has_breakpoints:
        return ()
    model = prompt.model
    meter = PrefixMeter(
        params,
        lambda cut: _render(cut, model)[0].text,
        lambda text: tokenize_rendered(prompt.tokenizer or model.engine.tokenize, text, prompt.markup),
        prompt.text,
        prompt.ids,
    )
    return meter.points()


def constraint_for(params: MessageCreateParams, plan: ToolPlan, *, thinking_first: bool = False) -> Constraint | None:
    """``thinking_first``: the output starts inside a ``<think>`` section, so a structured
    output grammar waits (lazily) for the section's ``</think>``."""
    if plan.active:
        allowed = plan.tools
        if isinstance(params.tool_choice, ToolChoiceTool):
            allowed = [t for t in plan.tools if t.name == params.tool_choice.name]
        return tool_call_grammar(allowed, parallel=not plan.single_call, lazy=not plan.forced)
    if plan.json_schema is not None:
        if thinking_first:
            return json_after_thinking_grammar(plan.json_schema)
        return json_output_grammar(plan.json_schema)
    return None


def _forced_tool(params: MessageCreateParams, plan: ToolPlan) -> str | None:
    """The one tool the reply's grammar makes it call, if there is one."""
    if isinstance(params.tool_choice, ToolChoiceTool):
        return params.tool_choice.name
    if plan.forced and len(plan.tools) == 1:
        return plan.tools[0].name
    return None


def sampling_params(
    params: MessageCreateParams, constraint: Constraint | None, defaults: SamplingDefaults | None = None
) -> SamplingParams:
    """The request's sampling parameters; those it leaves out come from the model's own
    defaults (``[models.sampling]``), then the API's (temperature 1.0)."""
    defaults = defaults or SamplingDefaults()
    temperature = params.temperature if params.temperature is not None else defaults.temperature
    top_k = params.top_k if params.top_k is not None else defaults.top_k
    return SamplingParams(
        max_tokens=params.max_tokens,
        temperature=1.0 if temperature is None else temperature,
        top_p=params.top_p if params.top_p is not None else defaults.top_p,
        top_k=top_k if top_k else None,
        repeat_penalty=defaults.repeat_penalty,
        grammar=constraint.grammar if constraint else None,
        grammar_triggers=constraint.triggers if constraint else (),
    )


def thinking_mode(params: MessageCreateParams) -> tuple[ThinkingDisplay, int | None]:
    """How reasoning is shown (``hidden`` when not asked for) and its token budget."""
    thinking = params.thinking
    if isinstance(thinking, ThinkingConfigEnabled):
        return compat.display_mode(thinking.display), thinking.budget_tokens
    if isinstance(thinking, ThinkingConfigAdaptive):
        budget = min(EFFORT_BUDGETS[effort(params)], max(params.max_tokens // 2, 1))
        return compat.display_mode(thinking.display), budget
    if isinstance(thinking, ThinkingConfigBetweenTools):
        return compat.display_mode(thinking.display), None
    return "hidden", None


def context_report(prompt: TokenizedPrompt) -> ContextManagementResponse | None:
    """The response's ``context_management`` (only when the request sent one)."""
    if prompt.edits is None or not prompt.edits.requested:
        return None
    return ContextManagementResponse(applied_edits=list(prompt.edits.applied))


def prepare_message(
    params: MessageCreateParams,
    model: ServedModel,
    *,
    version: str,
    cache_namespace: str = "",
    signer: ThinkingSigner | None = None,
    priority: int = 0,
) -> PreparedMessage:
    """Validate ``params`` once against ``model`` and compute everything generation needs."""
    validation.check_create(params, model_id=params.model, max_output_tokens=model.max_output_tokens, version=version)
    if signer is not None:
        signer.check_request(params)
    prompt = tokenize_prompt(params, model)
    reasoning = model.reasoning or prompt.opened_thinking
    display, budget = thinking_mode(params) if reasoning else ("hidden", None)
    window = model.context_window
    if len(prompt.ids) >= window:
        raise InvalidRequestError(f"prompt is too long: {len(prompt.ids)} tokens > {window - 1} maximum")
    constraint = None
    after_thinking: str | None = None
    if model.engine.facts.supports_grammar:
        constraint = constraint_for(params, prompt.plan, thinking_first=prompt.opened_thinking)
        if prompt.opened_thinking and prompt.plan.json_schema is not None and not prompt.plan.active:
            after_thinking = json_output_grammar(prompt.plan.json_schema).grammar
    return PreparedMessage(
        model=params.model,
        prompt=prompt.ids,
        sampling=sampling_params(params, constraint, model.sampling),
        stop_sequences=tuple(params.stop_sequences or ()),
        cache_namespace=cache_namespace,
        cache_points=cache_points(prompt.edits.params if prompt.edits else params, prompt),
        tool_names=tuple(t.name for t in prompt.plan.tools),
        single_tool_call=prompt.plan.single_call,
        forced_tool=_forced_tool(params, prompt.plan) if constraint is not None else None,
        reasoning=reasoning,
        thinking_opened=prompt.opened_thinking,
        thinking_display=display,
        thinking_budget=budget,
        answer_grammar=after_thinking,
        context_management=context_report(prompt),
        priority=priority,
        images=prompt.images,
    )
