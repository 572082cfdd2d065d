"""The code-execution sandbox against escape attempts, through the tool itself: each is
contained, and each gets the documented result (HTTP-level behaviour: test_code_execution.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from epistula import ids
from epistula.errors import InvalidRequestError
from epistula.protocol.servertools import ServerToolUseBlock
from epistula.protocol.tools import VersionedTool
from epistula.servertools.base import ToolContext
from epistula.servertools.code_execution import CodeExecution
from epistula.servertools.containers import ContainerRegistry
from epistula.servertools.sandbox.bubblewrap import Bubblewrap, Limits

DEFINITION = VersionedTool(type="code_execution_20250825", name="code_execution")
LIMITS = Limits(timeout=2.0, memory_bytes=512 << 20, processes=24, disk_bytes=8 << 20)


@pytest.fixture(scope="module")
def tool() -> CodeExecution:
    sandbox = Bubblewrap(LIMITS, uid=64123)
    assert sandbox.available(), "bubblewrap is not installed (.ci/bubblewrap.sh installs it)"
    return CodeExecution(sandbox, files=None)


@pytest.fixture()
def context(tmp_path: Path, tool: CodeExecution) -> ToolContext:
    registry = ContainerRegistry(tmp_path / "containers", ttl=600, owner_uid=tool.sandbox.uid)
    (tmp_path / "secret.txt").write_text("host secret")
    return ToolContext(workspace_id="wrkspc_test", container=registry.open("wrkspc_test", None))


def run(tool: CodeExecution, context: ToolContext, name: str, **arguments: Any) -> dict[str, Any]:
    call = ServerToolUseBlock.model_validate({"id": ids.server_tool_use_id(), "name": name, "input": arguments})
    block = asyncio.run(tool.execute(call, DEFINITION, context))
    assert block.tool_use_id == call.id
    return block.content.model_dump()


def processes_of(uid: int) -> list[str]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue  # gone meanwhile
        if any(line.split()[:2] == ["Uid:", str(uid)] for line in lines):
            found.append(status.parent.name)
    return found


def bash(tool: CodeExecution, context: ToolContext, command: str) -> dict[str, Any]:
    return run(tool, context, "bash_code_execution", command=command)


def test_commands_run_and_files_persist(tool: CodeExecution, context: ToolContext) -> None:
    first = bash(tool, context, "echo hello; echo oops >&2; echo kept > notes.txt; exit 3")
    assert first == {
        "type": "bash_code_execution_result",
        "stdout": "hello\n",
        "stderr": "oops\n",
        "return_code": 3,
        "content": [],  # no Files API here: nothing to upload
    }
    assert bash(tool, context, "cat notes.txt; pwd")["stdout"] == "kept\n/workspace\n"


def test_no_network(tool: CodeExecution, context: ToolContext) -> None:
    result = bash(
        tool,
        context,
        "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 80), timeout=2)' 2>&1 | tail -1; "
        "python3 -c 'import socket; print(socket.if_nameindex())'",
    )
    assert "Network is unreachable" in result["stdout"]
    assert result["stdout"].splitlines()[-1] == "[(1, 'lo')]"  # only the namespace's own loopback


def test_nothing_outside_the_mounts(tool: CodeExecution, context: ToolContext, tmp_path: Path) -> None:
    result = bash(
        tool,
        context,
        f"cat {tmp_path}/secret.txt; cat /workspace/../meta.json; ls /root /home /etc/passwd; "
        "echo x > /usr/evil; echo x > /mnt/uploads/evil",
    )
    assert result["return_code"] != 0
    assert "host secret" not in result["stdout"] and "workspace_id" not in result["stdout"]
    assert result["stderr"].count("No such file or directory") >= 4
    assert "Read-only file system" in result["stderr"]
    assert not (tmp_path / "evil").exists()


def test_symlink_to_host_file_stays_inside(tool: CodeExecution, context: ToolContext, tmp_path: Path) -> None:
    bash(tool, context, f"ln -s {tmp_path}/secret.txt link.txt")
    view = run(tool, context, "text_editor_code_execution", command="view", path="link.txt")
    assert view == {
        "type": "text_editor_code_execution_tool_result_error",
        "error_code": "file_not_found",
        "error_message": "link.txt: no such file",
    }


def test_fork_bomb_is_contained(tool: CodeExecution, context: ToolContext) -> None:
    result = bash(tool, context, "bomb() { bomb | bomb & }; bomb; sleep 1; echo survived")
    assert result["type"] in ("bash_code_execution_result", "bash_code_execution_tool_result_error")
    assert processes_of(tool.sandbox.uid) == []  # every process of the sandbox is gone
    assert bash(tool, context, "echo fine")["stdout"] == "fine\n"


def test_disk_fill_one_big_file(tool: CodeExecution, context: ToolContext) -> None:
    result = bash(tool, context, "head -c 20000000 /dev/zero > big; echo done")
    assert result == {"type": "bash_code_execution_tool_result_error", "error_code": "output_file_too_large"}
    assert bash(tool, context, "ls")["stdout"] == ""  # the run's new files are gone


def test_disk_fill_many_files(tool: CodeExecution, context: ToolContext) -> None:
    result = bash(tool, context, "for i in $(seq 100); do head -c 4000000 /dev/zero > f$i; done")
    assert result == {"type": "bash_code_execution_tool_result_error", "error_code": "output_file_too_large"}
    assert bash(tool, context, "ls | wc -l")["stdout"] == "0\n"


def test_time_limit(tool: CodeExecution, context: ToolContext) -> None:
    result = bash(tool, context, "sleep 60 & sleep 60")
    assert result == {"type": "bash_code_execution_tool_result_error", "error_code": "execution_time_exceeded"}
    python = run(tool, context, "code_execution", code="while True: pass")
    assert python == {"type": "code_execution_tool_result_error", "error_code": "execution_time_exceeded"}


def test_memory_limit(tool: CodeExecution, context: ToolContext) -> None:
    result = run(tool, context, "code_execution", code="x = bytearray(2 << 30)")
    assert result["return_code"] == 1 and "MemoryError" in result["stderr"]


def test_python_and_the_editor(tool: CodeExecution, context: ToolContext) -> None:
    assert run(tool, context, "code_execution", code="print(6 * 7)")["stdout"] == "42\n"
    bash(tool, context, "echo 'print(\"{}\")' > json.py")  # never imported by the editor
    created = run(
        tool, context, "text_editor_code_execution", command="create", path="a.py", file_text="x = 1\ny = 2\n"
    )
    assert created == {"type": "text_editor_code_execution_create_result", "is_file_update": False}
    edited = run(
        tool,
        context,
        "text_editor_code_execution",
        command="str_replace",
        path="a.py",
        old_str="y = 2",
        new_str="y = 3",
    )
    assert edited["type"] == "text_editor_code_execution_str_replace_result" and edited["old_start"] == 2
    view = run(tool, context, "text_editor_code_execution", command="view", path="a.py")
    assert view["content"] == "x = 1\ny = 3\n" and view["total_lines"] == 3
    bad = run(tool, context, "text_editor_code_execution", command="str_replace", path="a.py", old_str="zzz")
    assert bad["error_code"] == "invalid_tool_input"
    assert run(tool, context, "bash_code_execution", cmd="ls") == {
        "type": "bash_code_execution_tool_result_error",
        "error_code": "invalid_tool_input",
    }


def test_container_reuse_and_expiry(tmp_path: Path) -> None:
    now = [1000.0]
    registry = ContainerRegistry(tmp_path, ttl=60, clock=lambda: now[0])
    made = registry.open("wrkspc_a", None)
    assert made.id.startswith("container_") and made.expires_at == 1060.0
    assert registry.open("wrkspc_a", made.id) == made
    with pytest.raises(InvalidRequestError):
        registry.open("wrkspc_b", made.id)  # another workspace's container is unknown there
    now[0] = 1061.0
    with pytest.raises(InvalidRequestError, match="not found or has expired"):
        registry.open("wrkspc_a", made.id)
    assert not made.root.exists()  # expired containers are removed
