"""Start the replicas topology as plain processes on one machine (for tests and trials).

    python scripts/replicas.py [--replicas 2] [--llama-servers 2 | --upstream URL ...]
                               [--database-url URL] [--redis-url URL] [--engine remote] [-- SERVE ARGS]

* Upstreams: ``--llama-servers K`` starts K llama-servers on the default model's GGUF
  (``--binary``), or ``--upstream`` names running ones (llama-server, ``vllm+URL``...).
* Shared state: PostgreSQL and Redis from ``--database-url``/``--redis-url``, else from
  ``.ci/postgres.sh`` and ``.ci/redis.sh`` (Debian packages, started idempotently).
* Replicas: ``--replicas N`` processes of ``epistula serve --engine remote --upstream ...``
  sharing that database, Redis, one data directory (files, the thinking-signature key) and
  one API key, on consecutive ports from ``--port`` (``--port 0``: any free ports). Other
  settings come from the environment (``EPISTULA_RATE_LIMITS``...), as for ``epistula serve``.
* ``--workdir``: where the data directory and each replica's log go (default: a new
  temporary directory).

Prints one JSON line (``replicas``, ``upstreams``, ``database_url``, ``redis_url``,
``api_key``) once every replica answers ``/health``, then waits. On SIGINT or SIGTERM it
sends SIGTERM to the replicas first (each drains: in-flight streams finish, see
docs/deploy.md; after ``--drain-seconds`` a process still running is killed), then stops
the upstreams.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BINARY = Path.home() / ".cache/llama-server/11434.0.0/bin/llama-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_url(script: str) -> str:
    done = subprocess.run(["bash", str(ROOT / ".ci" / script)], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}: not healthy after {seconds} s")


def start_llama_servers(count: int, binary: Path, port: int, slots: int) -> list[tuple[subprocess.Popen[bytes], str]]:
    from epistula.config import default_models
    from epistula.models.catalog import resolve_model_path

    gguf = resolve_model_path(default_models()[0].path)
    started = []
    for i in range(count):
        this_port = port + i if port else free_port()
        url = f"http://127.0.0.1:{this_port}"
        command = [str(binary), "-m", str(gguf), "--port", str(this_port), "-np", str(slots), "-c", str(slots * 4096)]
        started.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), url))
    for proc, url in started:
        wait_healthy(url, proc)
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--llama-servers", type=int, default=0)
    parser.add_argument("--upstream", action="append", default=[])
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("--slots", type=int, default=4, help="sequences per llama-server")
    parser.add_argument("--engine", default="remote")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--api-key", default="sk-replicas")
    parser.add_argument("--port", type=int, default=18600, help="the first replica's port (0: any free ports)")
    parser.add_argument("--workdir", type=Path, help="data directory and logs (default: a new temporary directory)")
    parser.add_argument(
        "--drain-seconds", type=float, default=120, help="how long a stopping process may drain before SIGKILL"
    )
    parser.add_argument("serve_args", nargs="*", help="more `epistula serve` arguments (after --)")
    args = parser.parse_args()
    upstreams = start_llama_servers(args.llama_servers, args.binary, args.port and args.port + 100, args.slots)
    upstream_urls = args.upstream + [url for _, url in upstreams]
    if args.engine == "remote" and not upstream_urls:
        raise SystemExit("the remote engine needs --llama-servers K or --upstream URL")
    database_url = args.database_url or shared_url("postgres.sh")
    redis_url = args.redis_url or shared_url("redis.sh")
    replicas: list[tuple[subprocess.Popen[bytes], str]] = []
    logs = args.workdir or Path(tempfile.mkdtemp(prefix="epistula-replicas-"))
    logs.mkdir(parents=True, exist_ok=True)
    for i in range(args.replicas):
        port = args.port + i if args.port else free_port()
        # One data directory for all: uploaded files and the thinking-signature key live there.
        env = {**os.environ, "EPISTULA_API_KEY": args.api_key, "EPISTULA_DATA_DIR": str(logs / "data")}
        env |= {"EPISTULA_DATABASE_URL": database_url, "EPISTULA_REDIS_URL": redis_url}
        command = [sys.executable, "-m", "epistula", "serve", "--engine", args.engine, "--port", str(port)]
        command += [arg for url in upstream_urls for arg in ("--upstream", url)] + args.serve_args
        with (logs / f"replica{i}.log").open("wb") as log:
            replicas.append((subprocess.Popen(command, env=env, stdout=log, stderr=log), f"http://127.0.0.1:{port}"))
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for proc, url in replicas:
            wait_healthy(url, proc)
        summary = {
            "replicas": [url for _, url in replicas],
            "upstreams": upstream_urls,
            "database_url": database_url,
            "redis_url": redis_url,
            "api_key": args.api_key,
            "logs": str(logs),
        }
        print(json.dumps(summary), flush=True)
        while not stopping and all(proc.poll() is None for proc, _ in replicas):
            time.sleep(0.2)
    finally:
        for group in (replicas, upstreams):  # replicas drain first, while their upstreams still answer
            for proc, _ in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc, _ in group:
                try:
                    proc.wait(timeout=args.drain_seconds)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
