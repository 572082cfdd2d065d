"""The tool-call parser on token streams as the engine produces them, not on hand-split text.

A model's reply is tokenized with a real vocabulary (SmolLM2-135M-Instruct, Gemma 3 270M),
then turned back into text exactly as the engine and the pipeline do it: one
``NativeModel.piece`` per token (control tokens render as nothing), through an incremental
UTF-8 decoder, fed to :class:`ToolCallParser` one token's text at a time.

What the available vocabularies can and cannot show:

* Hermes/Qwen ``<tool_call>``, Llama 3 ``<|python_tag|>`` and Mistral ``[TOOL_CALLS]`` are
  plain text in both vocabularies (several ordinary tokens each), so these streams show the
  syntaxes as a model writes them when its vocabulary has no such special token.
* A family whose marker is a *control* token in its own GGUF (Llama 3's ``<|python_tag|>``,
  Mistral's ``[TOOL_CALLS]``) reaches the parser without the marker. That is reproduced with a
  control token these vocabularies do have (``<|im_start|>``, ``<start_of_turn>``): a Llama 3
  call then arrives as the bare JSON object it carries, and is still a call.
"""

from __future__ import annotations

import codecs

import pytest

from epistula.parsing.toolcalls import ParsedEvent, TextPiece, ToolCall

from .real_tokenizers import KINDS, native_model
from .toolcall_streams import parse_stream

pytestmark = pytest.mark.parametrize("kind", KINDS)

CONTROL = {"smollm2": "<|im_start|>", "gemma": "<start_of_turn>"}
"""A control token of each vocabulary: the engine renders it as nothing."""

WEATHER = ToolCall("get_weather", {"city": "Paris"})
LS = ToolCall("Bash", {"command": "ls", "timeout": 600000, "description": "List files in current directory"})

CASES: dict[str, tuple[str, list[ParsedEvent]]] = {
    "hermes": (
        'I will check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
        [TextPiece("I will check.\n"), WEATHER],
    ),
    "hermes_two": (
        '<tool_call>\n{"name": "Read", "arguments": {"path": "a.txt"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "Read", "arguments": {"path": "é✓.txt"}}\n</tool_call>',
        [ToolCall("Read", {"path": "a.txt"}), TextPiece("\n"), ToolCall("Read", {"path": "é✓.txt"})],
    ),
    # Recorded from Qwen2.5-Coder-0.5B-Instruct behind epistula (test_toolcall_parser.py).
    "qwen_bare": (
        '{"name": "Bash", "arguments": {"command": "ls", "timeout": 600000, '
        '"description": "List files in current directory"}}',
        [LS],
    ),
    "qwen_fenced": (
        '```json\n{\n  "name": "Bash",\n  "arguments": {\n    "command": "ls",\n    "timeout": 600000,\n'
        '    "description": "List files in current directory"\n  }\n}\n```',
        [LS],
    ),
    "llama3_text_tag": ('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}', [WEATHER]),
    "mistral_text_marker": (
        '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}}, '
        '{"name": "Bash", "arguments": {"command": "pwd"}}]',
        [WEATHER, ToolCall("Bash", {"command": "pwd"})],
    ),
    "unknown_tool_stays_text": (
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',
        [TextPiece('<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>')],
    ),
    "unfinished_call_stays_text": (
        '<tool_call>{"name": "Bash", "argu',
        [TextPiece('<tool_call>{"name": "Bash", "argu')],
    ),
}


def token_texts(kind: str, reply: str) -> list[str]:
    """The text the pipeline hands on per token: the engine's pieces, decoded incrementally."""
    model = native_model(kind)
    ids = model.tokenize(reply)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    texts = [decoder.decode(model.piece(token)) for token in ids]
    return [*texts, decoder.decode(b"", final=True)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_token_stream_parses_as_written(kind: str, case: str) -> None:
    reply, expected = CASES[case]
    texts = token_texts(kind, reply)
    assert "".join(texts) == reply  # the markers are plain text in this vocabulary
    assert sum(1 for t in texts if t) > 10, "the reply should arrive in many pieces"
    assert parse_stream(texts) == expected


def test_a_control_token_marker_arrives_as_nothing(kind: str) -> None:
    """A Llama 3 call whose ``<|python_tag|>`` is a control token: the parser sees the bare
    object, at the start of the reply, and still finds the call."""
    control = CONTROL[kind]
    (token,) = native_model(kind).tokenize(control)
    assert native_model(kind).piece(token) == b""
    texts = token_texts(kind, control + '{"name": "get_weather", "parameters": {"city": "Paris"}}')
    assert texts[0] == ""
    assert parse_stream(texts) == [WEATHER]


def test_a_control_token_mid_reply_leaves_no_trace(kind: str) -> None:
    texts = token_texts(
        kind,
        f"Checking.{CONTROL[kind]}\n<tool_call>" + '{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}</tool_call>',
    )
    assert parse_stream(texts) == [TextPiece("Checking.\n"), WEATHER]
