"""Chaos runs against ``epistula serve --engine fake`` subprocesses (issue 11): what the
API answers while a dependency is lost, and whether it recovers without a restart.

    python benchmarks/chaos.py                 # every scenario
    python benchmarks/chaos.py postgres redis  # some of them

Scenarios:

* ``postgres`` - a private PostgreSQL cluster (``initdb`` on a free port) is stopped hard
  (``pg_ctl stop -m immediate``) under concurrent traffic while a batch runs, then started
  again. Expected: only 5xx Anthropic envelopes while it is down, 200s again after it is
  back, and the batch ends with every request answered exactly once.
* ``redis`` - a private redis-server that holds the rate-limit buckets is killed under
  traffic and started again. Expected: no errors at all (limits are skipped while Redis is
  gone, documented), and the ``anthropic-ratelimit-*`` headers back once it returns.
* ``disk`` - the blob directory is a 4 MB tmpfs (needs root; skipped otherwise) and an
  8 MB upload fills it. Expected: a 500 envelope, no partial file, and a small upload
  succeeding afterwards.
* ``sigkill`` - the server is SIGKILLed mid-batch and started again on the same data.
  Expected: the batch ends with every request answered exactly once.

Each scenario prints one JSON line; ``docs/hardening.md`` records a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from common import HEADERS, KEY, free_port

MODEL = "claude-haiku-4-5"


class Serve:
    """``epistula serve --engine fake`` on a data directory that outlives the process."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.env = data_dir, env or {}
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPISTULA_")}
        env.update(EPISTULA_API_KEY=KEY, EPISTULA_DATA_DIR=str(self.data_dir), EPISTULA_LOG_LEVEL="error", **self.env)
        command = [sys.executable, "-m", "epistula", "serve", "--engine", "fake", "--port", str(port)]
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _healthy(self.url), 120, "epistula serve did not start")

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
            self.proc = None


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    return False


def wait_for(check: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(failure)
        time.sleep(0.05)


class Traffic:
    """Clients sending small Messages requests in a loop; tallies what came back, by phase."""

    def __init__(self, url: str, clients: int = 8) -> None:
        self.url, self.clients = url, clients
        self.phase = "before"
        self.tally: dict[str, Counter[str]] = {}
        self.bad_envelopes = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(clients)]
        self._lock = threading.Lock()

    def _loop(self) -> None:
        payload = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "#say:ok"}]}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                phase = self.phase
                try:
                    resp = client.post(f"{self.url}/v1/messages", json=payload, headers=HEADERS)
                    limited = any(k.startswith("anthropic-ratelimit-") for k in resp.headers)
                    outcome = f"{resp.status_code}{' with ratelimit headers' if limited else ''}"
                    if resp.status_code >= 400 and not _is_envelope(resp):
                        with self._lock:
                            self.bad_envelopes += 1
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self._lock:
                    self.tally.setdefault(phase, Counter())[outcome] += 1

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def report(self) -> dict[str, Any]:
        return {
            "answers": {phase: dict(counts) for phase, counts in self.tally.items()},
            "non_envelope_errors": self.bad_envelopes,
        }


def _is_envelope(resp: httpx.Response) -> bool:
    try:
        data = resp.json()
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "error" and "type" in data.get("error", {})


def _batch(url: str, n: int, content: str) -> str:
    params = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": content}]}
    requests = [{"custom_id": f"r{i:03d}", "params": params} for i in range(n)]
    resp = httpx.post(f"{url}/v1/messages/batches", json={"requests": requests}, headers=HEADERS, timeout=30)
    resp.raise_for_status()
    batch_id: str = resp.json()["id"]
    return batch_id


def _batch_outcome(url: str, batch_id: str, seconds: float = 180) -> dict[str, Any]:
    def ended() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            resp = httpx.get(f"{url}/v1/messages/batches/{batch_id}", headers=HEADERS, timeout=5)
            return resp.status_code == 200 and resp.json()["processing_status"] == "ended"
        return False

    wait_for(ended, seconds, f"batch {batch_id} did not end")
    counts = httpx.get(f"{url}/v1/messages/batches/{batch_id}", headers=HEADERS).json()["request_counts"]
    lines = httpx.get(f"{url}/v1/messages/batches/{batch_id}/results", headers=HEADERS, timeout=30).text.splitlines()
    ids = [json.loads(line)["custom_id"] for line in lines]
    return {"counts": counts, "results": len(ids), "distinct_results": len(set(ids))}


def _batch_progress(url: str, batch_id: str) -> int:
    resp = httpx.get(f"{url}/v1/messages/batches/{batch_id}", headers=HEADERS, timeout=5)
    return int(resp.headers["x-epistula-batch-progress"].split("/")[0])


# ---------------------------------------------------------------- PostgreSQL


class PrivatePostgres:
    """A throwaway cluster of this run's own (run as ``postgres`` when we are root)."""

    def __init__(self, workdir: Path) -> None:
        self.dir, self.port = workdir / "pg", free_port()
        self.bindir = _pg_bindir()
        self.dir.mkdir(parents=True)
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._pg("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _pg(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        data = str(self.dir / "data")
        self._pg("pg_ctl", "-D", data, "-l", str(self.dir / "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not candidates:
        raise SystemExit("PostgreSQL is not installed (bash .ci/postgres.sh installs it)")
    return candidates[-1].parent


def scenario_postgres(work: Path) -> dict[str, Any]:
    pg = PrivatePostgres(work)
    pg.start()
    server = Serve(work / "data", {"EPISTULA_DATABASE_URL": pg.url})
    server.start()
    try:
        batch_id = _batch(server.url, 60, "#slow:20 #say:through-the-restart")
        with Traffic(server.url) as traffic:
            time.sleep(3)
            traffic.phase = "down"
            pg.stop()
            time.sleep(5)
            pg.start()
            restarted = time.monotonic()
            traffic.phase = "recovering"
            wait_for(lambda: traffic.tally.get("recovering", Counter())["200"] > 0, 60, "no 200 after the restart")
            recovered_after = time.monotonic() - restarted
            traffic.phase = "after"
            time.sleep(3)
        return {"scenario": "postgres", "recovered_s": round(recovered_after, 2), **traffic.report(),
                "batch": _batch_outcome(server.url, batch_id)}  # fmt: skip
    finally:
        server.kill()
        pg.stop()


# ---------------------------------------------------------------- Redis


def scenario_redis(work: Path) -> dict[str, Any]:
    binary = shutil.which("redis-server")
    if binary is None:
        return {"scenario": "redis", "skipped": "redis-server is not installed (bash .ci/redis.sh installs it)"}
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return proc

    redis = start_redis()
    rules = json.dumps([{"requests_per_minute": 1_000_000}])
    server = Serve(work / "data", {"EPISTULA_REDIS_URL": f"redis://127.0.0.1:{port}/0", "EPISTULA_RATE_LIMITS": rules})
    server.start()
    try:
        with Traffic(server.url) as traffic:
            time.sleep(3)
            traffic.phase = "down"
            redis.kill()
            redis.wait()
            time.sleep(5)
            redis = start_redis()
            traffic.phase = "after"
            time.sleep(3)
        return {"scenario": "redis", **traffic.report()}
    finally:
        server.kill()
        redis.kill()


# ---------------------------------------------------------------- disk full


def scenario_disk(work: Path) -> dict[str, Any]:
    data = work / "data"
    blobs = data / "files"
    blobs.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(blobs)], capture_output=True)
    if mounted.returncode != 0:
        return {"scenario": "disk", "skipped": "mounting a tmpfs needs root: " + mounted.stderr.decode().strip()}
    server = Serve(data)
    server.start()
    try:
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        url = f"{server.url}/v1/files"
        big = httpx.post(
            url, files={"file": ("big.bin", os.urandom(8 << 20), "text/plain")}, headers=headers, timeout=60
        )
        leftovers = [str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()]
        small = httpx.post(url, files={"file": ("small.txt", b"fits", "text/plain")}, headers=headers, timeout=60)
        return {
            "scenario": "disk",
            "full_upload": {"status": big.status_code, "envelope": _is_envelope(big), "body": big.json()},
            "files_left_by_it": leftovers,
            "next_upload": small.status_code,
        }
    finally:
        server.kill()
        subprocess.run(["umount", str(blobs)], check=False)


# ---------------------------------------------------------------- SIGKILL


def scenario_sigkill(work: Path) -> dict[str, Any]:
    server = Serve(work / "data")
    server.start()
    n = 60
    batch_id = _batch(server.url, n, "#slow:20 #say:answered-once-xxxxxxxxxx")
    wait_for(lambda: _batch_progress(server.url, batch_id) >= 10, 60, "the batch made no progress")
    done_at_kill = _batch_progress(server.url, batch_id)
    server.kill(signal.SIGKILL)
    server.start()
    try:
        return {
            "scenario": "sigkill",
            "requests": n,
            "done_at_kill": done_at_kill,
            **_batch_outcome(server.url, batch_id),
        }
    finally:
        server.kill()


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "postgres": scenario_postgres,
    "redis": scenario_redis,
    "disk": scenario_disk,
    "sigkill": scenario_sigkill,
}


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="epistula-chaos-"))
    os.chmod(path, 0o755)  # the postgres account reads its cluster's parent
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        with workdir() as work:
            started = time.monotonic()
            result = SCENARIOS[name](work)
            result["wall_s"] = round(time.monotonic() - started, 1)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
