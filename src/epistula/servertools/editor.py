"""``text_editor_code_execution``: view, create and edit files *inside* the sandbox.

The edit runs as a small Python program in the same sandbox as the code (never on the
host), so a symlink the code planted cannot make the editor touch a host file. The
program reads the tool input as JSON on stdin and prints one JSON object; it runs in
isolated mode (``python3 -I``), so modules the code left in the working directory are
never imported, and an answer that still does not parse is an ``unavailable`` result.
"""

from __future__ import annotations

import json
from typing import Any

from epistula.protocol.servertools import (
    TextEditorCodeExecutionContent,
    TextEditorCodeExecutionCreateResultBlock,
    TextEditorCodeExecutionStrReplaceResultBlock,
    TextEditorCodeExecutionToolResultError,
    TextEditorCodeExecutionViewResultBlock,
)

from .sandbox.bubblewrap import RunResult

EDITOR_PROGRAM = r"""
import json, os, sys
a = json.load(sys.stdin)
def out(**k):
    print(json.dumps(k))
    sys.exit(0)
p, cmd = a.get("path"), a.get("command")
if not isinstance(p, str) or not p:
    out(error="invalid_tool_input", message="`path` is required")
try:
    if cmd == "view":
        if os.path.isdir(p):
            names = sorted(os.listdir(p))
            out(kind="view", content="\n".join(names), start=1, num=len(names), total=len(names))
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        r = a.get("view_range") or [1, -1]
        s = max(int(r[0]), 1)
        e = len(lines) if int(r[1]) == -1 else min(int(r[1]), len(lines))
        out(kind="view", content="\n".join(lines[s - 1:e]), start=s, num=max(e - s + 1, 0), total=len(lines))
    if cmd == "create":
        text = a.get("file_text")
        if not isinstance(text, str):
            out(error="invalid_tool_input", message="`file_text` is required")
        existed = os.path.exists(p)
        if os.path.dirname(p):
            os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        out(kind="create", update=existed)
    if cmd == "str_replace":
        old, new = a.get("old_str"), a.get("new_str") or ""
        if not isinstance(old, str) or not old or not isinstance(new, str):
            out(error="invalid_tool_input", message="`old_str` is required")
        with open(p, encoding="utf-8") as f:
            text = f.read()
        n = text.count(old)
        if n != 1:
            out(error="invalid_tool_input", message=f"`old_str` must occur exactly once in {p} (found {n})")
        start = text[: text.index(old)].count("\n") + 1
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
        out(kind="str_replace", old_start=start, old_lines=old.count("\n") + 1, new_start=start,
            new_lines=new.count("\n") + 1, lines=new.split("\n"))
    out(error="invalid_tool_input", message=f"unknown command {cmd!r} (view, create, str_replace)")
except FileNotFoundError:
    out(error="file_not_found", message=f"{p}: no such file")
except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
    out(error="invalid_tool_input", message=f"{p}: {exc}")
"""


def editor_result(run: RunResult) -> TextEditorCodeExecutionContent:
    """The result block's content for the editor program's run."""
    if run.timed_out:
        return TextEditorCodeExecutionToolResultError(error_code="execution_time_exceeded")
    if run.disk_exceeded:
        return TextEditorCodeExecutionToolResultError(
            error_code="invalid_tool_input", error_message="the container's disk quota is exhausted"
        )
    try:
        return _parsed(json.loads(run.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
        message = (run.stderr.strip() or "the editor failed")[-500:]
        return TextEditorCodeExecutionToolResultError(error_code="unavailable", error_message=message)


def _parsed(answer: dict[str, Any]) -> TextEditorCodeExecutionContent:
    if "error" in answer:
        return TextEditorCodeExecutionToolResultError(error_code=answer["error"], error_message=answer.get("message"))
    kind = answer["kind"]
    if kind == "view":
        return TextEditorCodeExecutionViewResultBlock(
            content=answer["content"], num_lines=answer["num"], start_line=answer["start"], total_lines=answer["total"]
        )
    if kind == "create":
        return TextEditorCodeExecutionCreateResultBlock(is_file_update=answer["update"])
    return TextEditorCodeExecutionStrReplaceResultBlock(
        old_start=answer["old_start"],
        old_lines=answer["old_lines"],
        new_start=answer["new_start"],
        new_lines=answer["new_lines"],
        lines=answer["lines"],
    )
