"""The tool-call parser on recorded model outputs, fed in arbitrary chunk splits."""

from __future__ import annotations

import itertools
import random

import pytest

from epistula.parsing.toolcalls import ParsedEvent, TextPiece, ToolCall

from .toolcall_streams import parse_stream

# Recorded from Qwen2.5-Coder-0.5B behind Claude Code (../shared/research/small-model-tool-calls.md).
QWEN_FENCED = (
    '```json\n{\n  "name": "Bash",\n  "arguments": {\n    "command": "ls",\n'
    '    "timeout": 600000,\n    "description": "List files in current directory"\n  }\n}\n```'
)
QWEN_BARE = (
    '{"name": "Bash", "arguments": {"command": "echo \'Hi!\'", "timeout": 0, '
    '"description": "Executes a given bash command"}}'
)
# Recorded from Qwen2.5-Coder-0.5B-Instruct (Q4 GGUF, greedy) behind epistula, on the recorded
# `claude --bare -p` request (claude_code_bare_request.json; the model's own template with tools):
# a bare one-line call, a pretty-printed one, and one that ends a brace short (stays text).
QWEN_EPISTULA_LS = (
    '{"name": "Bash", "arguments": {"command": "ls", "timeout": 600000, '
    '"description": "List files in current directory"}}'
)
QWEN_EPISTULA_READ = (
    '{\n  "name": "Read",\n  "arguments": {\n    "file_path": "/tmp/work/README.md",\n    "offset": 0,\n'
    '    "limit": 9007199254740991,\n    "pages": "1-5",\n    "allow_large": false\n  }\n}'
)
QWEN_EPISTULA_UNCLOSED = '{"name": "Bash", "arguments": {"command": "echo \'Hello, world!\'"}'
HERMES = 'I will check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
HERMES_TWO = (
    '<tool_call>\n{"name": "Read", "arguments": {"path": "a.txt"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "Read", "arguments": {"path": "b.txt"}}\n</tool_call>'
)
LLAMA3 = '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}'
LLAMA3_BARE = '{"name": "get_weather", "parameters": {"city": "Oslo"}}'
MISTRAL = (
    '[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "pwd"}}, {"name": "Read", "arguments": {"path": "x"}}]'
)
MISTRAL_BARE = '[{"name": "Bash", "arguments": {"command": "pwd"}}]'
# Recorded from SmolLM2-135M (tool_choice auto, earlier tool results in the history): the call
# inside the tags of a tool's response, and an invented response (stays text).
SMOL_RESPONSE_CALL = '<tool_response>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_response>'
SMOL_INVENTED = "<tool_response>\n13 C, cloudy\n</tool_response>"
ARGS_AS_STRING = '<tool_call>{"name": "Bash", "arguments": "{\\"command\\": \\"ls\\"}"}</tool_call>'

CASES: list[tuple[str, list[ParsedEvent]]] = [
    (
        QWEN_FENCED,
        [ToolCall("Bash", {"command": "ls", "timeout": 600000, "description": "List files in current directory"})],
    ),
    (
        QWEN_BARE,
        [ToolCall("Bash", {"command": "echo 'Hi!'", "timeout": 0, "description": "Executes a given bash command"})],
    ),
    (
        QWEN_EPISTULA_LS,
        [ToolCall("Bash", {"command": "ls", "timeout": 600000, "description": "List files in current directory"})],
    ),
    (
        QWEN_EPISTULA_READ,
        [
            ToolCall(
                "Read",
                {
                    "file_path": "/tmp/work/README.md",
                    "offset": 0,
                    "limit": 9007199254740991,
                    "pages": "1-5",
                    "allow_large": False,
                },
            )
        ],
    ),
    (QWEN_EPISTULA_UNCLOSED, [TextPiece(QWEN_EPISTULA_UNCLOSED)]),
    (HERMES, [TextPiece("I will check.\n"), ToolCall("get_weather", {"city": "Paris"})]),
    (HERMES_TWO, [ToolCall("Read", {"path": "a.txt"}), TextPiece("\n"), ToolCall("Read", {"path": "b.txt"})]),
    (LLAMA3, [ToolCall("get_weather", {"city": "Oslo"})]),
    (LLAMA3_BARE, [ToolCall("get_weather", {"city": "Oslo"})]),
    (MISTRAL, [ToolCall("Bash", {"command": "pwd"}), ToolCall("Read", {"path": "x"})]),
    (ARGS_AS_STRING, [ToolCall("Bash", {"command": "ls"})]),
    (MISTRAL_BARE, [ToolCall("Bash", {"command": "pwd"})]),
    (SMOL_RESPONSE_CALL, [ToolCall("get_weather", {"city": "Paris"})]),
    (SMOL_INVENTED, [TextPiece(SMOL_INVENTED)]),
    ("[1, 2] are numbers.", [TextPiece("[1, 2] are numbers.")]),
    # Not calls: unknown tool, prose with braces, an unrelated code fence, an unfinished tag.
    ('{"name": "rm_rf", "arguments": {}}', [TextPiece('{"name": "rm_rf", "arguments": {}}')]),
    ("Use {braces} freely.", [TextPiece("Use {braces} freely.")]),
    ("Code:\n```python\nprint({1: 2})\n```\n", [TextPiece("Code:\n```python\nprint({1: 2})\n```\n")]),
    ("Almost <tool_ca", [TextPiece("Almost <tool_ca")]),
    ('<tool_call>{"name": "Bash", "argu', [TextPiece('<tool_call>{"name": "Bash", "argu')]),
]


# Ended by the token limit (``finish(cut=True)``): a call it cuts off is a call with the
# members written in full, as the Claude API returns a tool_use block cut by max_tokens.
CUT_CASES: list[tuple[str, list[ParsedEvent]]] = [
    (
        'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lagos", "da',
        [TextPiece("Checking.\n"), ToolCall("get_weather", {"city": "Lagos"}, complete=False)],
    ),
    # an unfinished string is left out (the SDK's partial parse does the same)
    ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lag', [ToolCall("get_weather", {}, complete=False)]),
    ('<tool_call>{"name": "Bash", "argu', [ToolCall("Bash", {}, complete=False)]),
    # only the closing tag was cut: the call itself is whole
    (
        HERMES.removesuffix("tool_call>") + "tool_c",
        [TextPiece("I will check.\n"), ToolCall("get_weather", {"city": "Paris"})],
    ),
    (
        '[TOOL_CALLS] [{"name": "Bash", "arguments": {"command": "pwd"}}, {"name": "Read", "arguments": {"pa',
        [ToolCall("Bash", {"command": "pwd"}), ToolCall("Read", {}, complete=False)],
    ),
    (
        '{"name": "Read", "arguments": {"path": "x", "limit": 5',
        [ToolCall("Read", {"path": "x", "limit": 5}, complete=False)],
    ),
    # no offered tool named (yet): still text
    ('<tool_call>{"na', [TextPiece('<tool_call>{"na')]),
    ('<tool_call>{"name": "rm_rf", "arguments": {"a', [TextPiece('<tool_call>{"name": "rm_rf", "arguments": {"a')]),
    ("Almost <tool_ca", [TextPiece("Almost <tool_ca")]),
]


def _run(text: str, cuts: list[int], cut: bool = False) -> list[ParsedEvent]:
    bounds = [0, *cuts, len(text)]
    return parse_stream((text[a:b] for a, b in itertools.pairwise(bounds)), cut=cut)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parses_recorded_output(text: str, expected: list[ParsedEvent]) -> None:
    assert _run(text, []) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_invariance(text: str, expected: list[ParsedEvent]) -> None:
    rng = random.Random(len(text))
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, min(12, len(text) - 1))))
        assert _run(text, cuts) == expected, cuts
    # one character at a time, too
    assert _run(text, list(range(1, len(text)))) == expected


@pytest.mark.parametrize(("text", "expected"), CUT_CASES)
def test_a_call_the_token_limit_cut_off(text: str, expected: list[ParsedEvent]) -> None:
    rng = random.Random(len(text))
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(0, min(12, len(text) - 1))))
        assert _run(text, cuts, cut=True) == expected, cuts
    # the same text ended by the model itself stays text, unless the call in it is whole
    if all(not isinstance(e, ToolCall) or e.complete for e in expected):
        assert _run(text, [], cut=False) == expected
    else:
        assert all(isinstance(e, TextPiece) or e.complete for e in _run(text, [], cut=False))
