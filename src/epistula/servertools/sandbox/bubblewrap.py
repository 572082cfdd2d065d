"""Run one command in a bubblewrap sandbox, with resource limits.

The sandbox sees a read-only ``/usr`` (the host's programs and Python), a private
``/proc``, ``/dev`` and a size-limited ``/tmp``, the container's working directory
(read-write at :data:`WORKDIR`), its uploads (read-only at :data:`UPLOADS`) and skills
(read-only at :data:`SKILLS`), and
nothing else of the host: no ``/home``, ``/root``, ``/etc`` secrets or the server's
data. Its network, PID, IPC and UTS namespaces are its own, so there is no network (only
the new namespace's loopback), no view of host processes and no IPC with them.

Limits, each enforced by the kernel or by this module:

* **time**: the whole process tree is killed at ``timeout`` (wall clock) and
  ``RLIMIT_CPU`` bounds CPU seconds;
* **memory**: ``RLIMIT_AS`` per process;
* **processes**: ``RLIMIT_NPROC`` for the sandbox's own user id (a fork bomb gets
  ``EAGAIN``); when epistula runs as root, sandboxes run as an unprivileged uid, because
  the kernel does not count root's processes against the limit;
* **disk**: ``RLIMIT_FSIZE`` caps every file, and a watchdog kills the run once the
  working directory fills the quota (``/tmp`` is a tmpfs of the same size);
* **output**: stdout and stderr are cut at ``output_bytes`` each.

Killing ``bwrap`` ends the sandbox: ``--die-with-parent`` kills its init, and the kernel
kills everything left in a PID namespace whose init is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

WORKDIR = "/workspace"
"""Where the container's persistent, writable files are (the working directory)."""
UPLOADS = "/mnt/uploads"
"""Where files from the Files API (``container_upload``) are, read-only."""
SKILLS = "/skills"
"""Where the request's skills are (``/skills/<name>/SKILL.md``), read-only."""
PATH = "/usr/local/bin:/usr/bin:/bin"
_WATCH_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 30.0
    """Wall-clock seconds per command."""
    memory_bytes: int = 1 << 30
    processes: int = 64
    disk_bytes: int = 256 << 20
    output_bytes: int = 64 << 10
    """Per stream; more is cut off (and says so)."""

    @property
    def cpu_seconds(self) -> int:
        return max(1, int(self.timeout) + 1)


@dataclass(frozen=True, slots=True)
class RunResult:
    stdout: str
    stderr: str
    return_code: int
    timed_out: bool = False
    disk_exceeded: bool = False


def walk(root: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry under ``root``, depth first, without following symlinks; what cannot be
    read (a directory removed meanwhile, one without permission) is passed over."""
    stack = [root]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                yield entry


def directory_size(root: Path) -> int:
    """Bytes under ``root``, without following symlinks (a link costs its own size)."""
    total = 0
    for entry in walk(root):
        with contextlib.suppress(OSError):
            total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


class Bubblewrap:
    """Runs commands in a fresh bubblewrap sandbox over a container's directories."""

    def __init__(self, limits: Limits, *, uid: int = 64000, bwrap: str = "bwrap") -> None:
        self.limits = limits
        self._bwrap = bwrap
        self.uid = uid if os.geteuid() == 0 else os.geteuid()
        """The host uid sandboxed code runs as (the server's own, unless it is root)."""

    def available(self) -> bool:
        return shutil.which(self._bwrap) is not None and shutil.which("prlimit") is not None

    def command(
        self, argv: Sequence[str], *, workdir: Path, uploads: Path | None, skills: Path | None = None
    ) -> list[str]:
        """As root, bwrap mounts with root's rights (the data directory may be private)
        and ``setpriv`` inside drops to :attr:`uid` before the command runs, with no
        capabilities left and ``no_new_privs`` (setuid programs under ``/usr`` gain
        nothing). Otherwise bwrap runs unprivileged in a user namespace."""
        limits = self.limits
        root = os.geteuid() == 0
        prefix = [
            "prlimit",
            f"--nproc={limits.processes}",
            f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.disk_bytes}",
            "--nofile=256",
            "--core=0",
            "--",
        ]
        namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        box = [
            self._bwrap,
            *(namespaces if root else ["--unshare-all"]),
            "--die-with-parent",
            "--new-session",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for name in ("bin", "lib", "lib64", "sbin"):
            if Path(f"/{name}").is_symlink():
                box += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
            elif Path(f"/{name}").is_dir():
                box += ["--ro-bind", f"/{name}", f"/{name}"]
        for etc in ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"):
            box += ["--ro-bind-try", etc, etc]
        box += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.disk_bytes), "--tmpfs", "/tmp"]
        box += ["--bind", str(workdir), WORKDIR]
        if uploads is not None:
            box += ["--perms", "0755", "--dir", "/mnt", "--ro-bind", str(uploads), UPLOADS]
        if skills is not None:
            box += ["--ro-bind", str(skills), SKILLS]
        box += ["--chdir", WORKDIR, "--clearenv"]
        env = {"PATH": PATH, "HOME": WORKDIR, "LANG": "C.UTF-8", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
        for key, value in env.items():
            box += ["--setenv", key, value]
        if root:
            box += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
            box += ["/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
            box += ["--no-new-privs"]
        return [*prefix, *box, "--", *argv]

    async def run(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        uploads: Path | None = None,
        skills: Path | None = None,
        stdin: bytes = b"",
    ) -> RunResult:
        proc = await asyncio.create_subprocess_exec(
            *self.command(argv, workdir=workdir, uploads=uploads, skills=skills),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.ensure_future(_read_capped(proc.stdout, self.limits.output_bytes)),
            asyncio.ensure_future(_read_capped(proc.stderr, self.limits.output_bytes)),
        ]
        with contextlib.suppress(OSError):
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.timeout
        timed_out = disk_exceeded = False
        try:
            while True:
                try:
                    await asyncio.wait_for(proc.wait(), timeout=min(_WATCH_INTERVAL, max(deadline - loop.time(), 0)))
                    break
                except TimeoutError:
                    pass
                if loop.time() >= deadline:
                    timed_out = True
                elif await asyncio.to_thread(directory_size, workdir) >= self.limits.disk_bytes:
                    disk_exceeded = True
                if timed_out or disk_exceeded:
                    _kill(proc)
                    await proc.wait()
                    break
        finally:
            if proc.returncode is None:  # cancelled: the client went away
                _kill(proc)
                with contextlib.suppress(BaseException):
                    await proc.wait()
        stdout, stderr = [await r for r in readers]
        if not disk_exceeded:
            disk_exceeded = await asyncio.to_thread(directory_size, workdir) >= self.limits.disk_bytes
        code = proc.returncode if proc.returncode is not None else -1
        return RunResult(stdout, stderr, code if code >= 0 else 128 - code, timed_out, disk_exceeded)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> str:
    """The stream's text up to ``limit`` bytes; the rest is read and dropped."""
    kept = bytearray()
    dropped = 0
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        kept += chunk[:room]
        dropped += max(len(chunk) - room, 0)
    text = kept.decode("utf-8", errors="replace")
    if dropped:
        text += f"\n[output truncated: {dropped} more bytes]"
    return text
