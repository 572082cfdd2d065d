"""Code execution: ``code_execution_20250825`` (``bash_code_execution`` and
``text_editor_code_execution``) and ``code_execution_20250522`` (Python), in a bubblewrap
sandbox over the request's container.

Every call is a fresh sandbox over the container's persistent working directory, so files
survive between calls and requests (shell variables and background processes do not).
Files that a bash or Python run creates or changes there become downloadable Files API
files, listed in the result's ``content``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import weakref
from pathlib import Path
from typing import Any, TypedDict

from epistula.files.service import FileService
from epistula.protocol.servertools import (
    BashCodeExecutionOutputBlock,
    BashCodeExecutionResultBlock,
    BashCodeExecutionToolResultBlock,
    BashCodeExecutionToolResultError,
    CodeExecutionOutputBlock,
    CodeExecutionResultBlock,
    CodeExecutionToolDefinition,
    CodeExecutionToolResultBlock,
    CodeExecutionToolResultError,
    ServerToolResultBlock,
    ServerToolUseBlock,
    TextEditorCodeExecutionToolResultBlock,
    TextEditorCodeExecutionToolResultError,
)
from epistula.protocol.tools import Tool, VersionedTool

from .base import Counter, ToolContext, one_argument_tool, parse_definition
from .containers import Container
from .editor import EDITOR_PROGRAM, editor_result
from .sandbox.bubblewrap import UPLOADS, WORKDIR, Bubblewrap, RunResult, walk

_WHERE = (
    f"The working directory {WORKDIR} keeps its files between calls; files you were given are in {UPLOADS} "
    f"(read-only). Files you write to {WORKDIR} can be downloaded by the user. There is no network."
)
BASH = one_argument_tool(
    "bash_code_execution",
    f"Run a bash command in a sandboxed Linux container and get its output. {_WHERE}",
    "command",
    "The bash command to run.",
)
EDITOR = Tool.model_validate(
    {
        "name": "text_editor_code_execution",
        "description": "View, create and edit text files in the sandboxed container: `view` shows a file "
        "(or lists a directory), `create` writes `file_text` to a file, `str_replace` replaces the unique "
        f"text `old_str` by `new_str`. {_WHERE}",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"enum": ["view", "create", "str_replace"]},
                "path": {"type": "string"},
                "file_text": {"type": "string"},
                "old_str": {"type": "string"},
                "new_str": {"type": "string"},
            },
            "required": ["command", "path"],
            "additionalProperties": False,
        },
    }
)
PYTHON = one_argument_tool(
    "code_execution",
    f"Run Python 3 code in a sandboxed container and get what it prints. {_WHERE}",
    "code",
    "The Python code to run.",
)

Snapshot = dict[str, tuple[int, int]]


def snapshot(root: Path) -> Snapshot:
    """Regular files under ``root`` (relative path -> mtime, size); symlinks are never followed."""
    found: Snapshot = {}
    for entry in walk(root):
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                found[os.path.relpath(entry.path, root)] = (st.st_mtime_ns, st.st_size)
    return found


class CodeExecution:
    kinds: tuple[str, ...] = ("code_execution_20250522", "code_execution_20250825")
    needs_container = True
    counter: Counter | None = None

    def __init__(self, sandbox: Bubblewrap, *, files: FileService | None, max_output_files: int = 20) -> None:
        self.sandbox = sandbox
        self._files = files
        self._max_output_files = max_output_files
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def model_tools(self, kind: str) -> list[Tool]:
        return [PYTHON] if kind == "code_execution_20250522" else [BASH, EDITOR]

    def check(self, index: int, definition: VersionedTool) -> None:
        parse_definition(index, definition, CodeExecutionToolDefinition)

    def forced(self, kind: str) -> str:
        return PYTHON.name if kind == "code_execution_20250522" else BASH.name

    async def execute(
        self, call: ServerToolUseBlock, definition: VersionedTool, context: ToolContext
    ) -> ServerToolResultBlock:
        container = context.container
        assert container is not None
        lock = self._locks.setdefault(container.id, asyncio.Lock())
        async with lock:  # one call at a time per container
            if call.name == "text_editor_code_execution":
                return await self._edit(call, container)
            key = "code" if call.name == "code_execution" else "command"
            source = call.input.get(key)
            if not isinstance(source, str) or not self.sandbox.available():
                code = "invalid_tool_input" if self.sandbox.available() else "unavailable"
                if call.name == "code_execution":
                    return CodeExecutionToolResultBlock(
                        tool_use_id=call.id, content=CodeExecutionToolResultError(error_code=code)
                    )
                return BashCodeExecutionToolResultBlock(
                    tool_use_id=call.id, content=BashCodeExecutionToolResultError(error_code=code)
                )
            before = await asyncio.to_thread(snapshot, container.workdir)
            if call.name == "code_execution":
                run = await self.sandbox.run(["python3", "-"], **_mounts(container), stdin=source.encode())
            else:
                run = await self.sandbox.run(["bash", "-c", source], **_mounts(container))
            after = await asyncio.to_thread(snapshot, container.workdir)
            written = [path for path, stamp in sorted(after.items()) if before.get(path) != stamp]
            if run.disk_exceeded:
                await asyncio.to_thread(_remove_new, container.workdir, [p for p in written if p not in before])
                written = []
            file_ids = [] if run.timed_out else await self._outputs(context.workspace_id, container.workdir, written)
            return self._result(call, run, file_ids)

    def _result(self, call: ServerToolUseBlock, run: RunResult, file_ids: list[str]) -> ServerToolResultBlock:
        quota = f"\n[the container's disk quota of {self.sandbox.limits.disk_bytes} bytes is exhausted]"
        if call.name == "code_execution":
            if run.timed_out:
                error = CodeExecutionToolResultError(error_code="execution_time_exceeded")
                return CodeExecutionToolResultBlock(tool_use_id=call.id, content=error)
            stderr = run.stderr + (quota if run.disk_exceeded else "")
            outputs = [CodeExecutionOutputBlock(file_id=f) for f in file_ids]
            result = CodeExecutionResultBlock(
                stdout=run.stdout, stderr=stderr, return_code=run.return_code, content=outputs
            )
            return CodeExecutionToolResultBlock(tool_use_id=call.id, content=result)
        if run.timed_out or run.disk_exceeded:
            code = "execution_time_exceeded" if run.timed_out else "output_file_too_large"
            return BashCodeExecutionToolResultBlock(
                tool_use_id=call.id, content=BashCodeExecutionToolResultError(error_code=code)
            )
        bash = BashCodeExecutionResultBlock(
            stdout=run.stdout,
            stderr=run.stderr,
            return_code=run.return_code,
            content=[BashCodeExecutionOutputBlock(file_id=f) for f in file_ids],
        )
        return BashCodeExecutionToolResultBlock(tool_use_id=call.id, content=bash)

    async def _edit(self, call: ServerToolUseBlock, container: Container) -> ServerToolResultBlock:
        if not self.sandbox.available():
            content: Any = TextEditorCodeExecutionToolResultError(error_code="unavailable")
        else:
            run = await self.sandbox.run(
                ["python3", "-I", "-c", EDITOR_PROGRAM], **_mounts(container), stdin=json.dumps(call.input).encode()
            )
            content = editor_result(run)
        return TextEditorCodeExecutionToolResultBlock(tool_use_id=call.id, content=content)

    async def _outputs(self, workspace_id: str, workdir: Path, written: list[str]) -> list[str]:
        """Upload the files a run wrote as downloadable Files (the sandbox has exited, so
        nothing can swap a file for a link in between; links are refused anyway)."""
        if self._files is None:
            return []
        file_ids: list[str] = []
        for relative in written[: self._max_output_files]:
            try:
                fd = os.open(workdir / relative, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as source:
                record = await self._files.upload(
                    workspace_id, source, filename=Path(relative).name, mime_type=None, downloadable=True
                )
            file_ids.append(record.id)
        return file_ids


class _Mounts(TypedDict):
    workdir: Path
    uploads: Path | None
    skills: Path | None


def _mounts(container: Container) -> _Mounts:
    """What a sandbox over ``container`` mounts (its skills, when the request has some)."""
    skills = container.skills if container.skills.is_dir() else None
    return {"workdir": container.workdir, "uploads": container.uploads, "skills": skills}


def _remove_new(workdir: Path, paths: list[str]) -> None:
    for relative in paths:
        with contextlib.suppress(OSError):
            (workdir / relative).unlink()
