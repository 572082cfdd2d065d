"""``epistula models pull`` against a local Hugging Face hub double serving the real
SmolLM2 GGUF: progress, a download killed halfway and resumed, the sha256 check, then
``epistula serve --model hf.co/...`` answering through the official SDK."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from epistula.cli import main
from processes import ServeProcess

from .hub_double import COMMIT, HubDouble, serve_hub
from .paths import SMOLLM2_GGUF

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
FILE = SMOLLM2_GGUF.name
REF = f"hf.co/{REPO}:Q4_1"


@pytest.fixture()
def hub() -> Iterator[HubDouble]:
    with serve_hub(REPO, {FILE: SMOLLM2_GGUF, "README.md": Path(__file__)}) as double:
        yield double


def hub_env(hub: HubDouble, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPISTULA_", "HF_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HOME=str(tmp / "hf-home"),
        HF_HUB_CACHE=str(tmp / "hub"),
        HF_HUB_DISABLE_TELEMETRY="1",
        OLLAMA_MODELS=str(tmp / "no-ollama"),
    )
    return env


def epistula(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "epistula", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def blobs(tmp: Path) -> Path:
    return tmp / "hub" / f"models--{REPO.replace('/', '--')}" / "blobs"


def kill_mid_transfer(env: dict[str, str], tmp: Path) -> int:
    """Start a pull, SIGKILL it once part of the file has arrived; the bytes kept."""
    pull = subprocess.Popen(
        [sys.executable, "-m", "epistula", "models", "pull", REF],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            partial = list(blobs(tmp).glob("*.incomplete")) if blobs(tmp).is_dir() else []
            if partial and partial[0].stat().st_size >= 8 << 20:
                break
            assert pull.poll() is None, "the pull ended before it could be killed"
            time.sleep(0.05)
        else:
            raise AssertionError("no partial download appeared")
    finally:
        os.kill(pull.pid, signal.SIGKILL)
        pull.wait()
    return partial[0].stat().st_size


@pytest.mark.model
def test_pull_resumes_after_a_kill_verifies_and_serves(hub: HubDouble, tmp_path: Path) -> None:
    env = hub_env(hub, tmp_path)
    hub.delay = 0.05  # ~5 s for the whole file: time to kill it halfway
    kept = kill_mid_transfer(env, tmp_path)
    assert 0 < kept < SMOLLM2_GGUF.stat().st_size
    assert not any(p.suffix != ".incomplete" for p in blobs(tmp_path).iterdir())

    hub.delay = 0.0
    hub.requests.clear()
    done = epistula(env, "models", "pull", REF)
    assert done.returncode == 0, done.stderr
    assert f"{FILE}: resuming at" in done.stderr
    assert f"{FILE}: 100% (98.4 MB of 98.4 MB)" in done.stderr
    assert "sha256 verified" in done.stdout
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith(FILE)]
    assert len(ranges) == 1 and ranges[0] is not None
    assert int(ranges[0].removeprefix("bytes=").rstrip("-")) >= kept  # only the rest was sent
    pointer = tmp_path / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / FILE
    assert pointer.is_symlink() and pointer.stat().st_size == SMOLLM2_GGUF.stat().st_size
    assert not list(blobs(tmp_path).glob("*.incomplete"))

    listed = epistula(env, "models", "list")
    assert f"hf.co/{REPO}/{FILE}" in listed.stdout
    shown = epistula(env, "models", "show", REF)
    assert "context window:    8192" in shown.stdout
    assert "bos / eos:         <|im_start|> / <|im_end|>" in shown.stdout

    server = ServeProcess(tmp_path / "serve", "--engine", "llamacpp", "--model", REF, env=env)
    try:
        client = server.client(default_headers={"anthropic-version": "2023-06-01"})
        model_id = FILE.removesuffix(".gguf").lower()
        assert client.models.retrieve(model_id).max_input_tokens == 8192
        reply = client.messages.create(
            model=model_id,
            max_tokens=8,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_body={"temperature": 0},  # greedy
        )
        assert reply.content and reply.content[0].type == "text" and reply.content[0].text.strip()
        assert reply.usage.output_tokens > 0
    finally:
        server.stop()

    removed = epistula(env, "models", "rm", REF)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert not (tmp_path / "hub" / f"models--{REPO.replace('/', '--')}").exists()


@pytest.fixture()
def in_process(hub: HubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands run in this process against the double (huggingface_hub reads its
    endpoint and cache from these constants on each call), with stdin not a terminal."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    return tmp_path


def test_a_corrupted_download_is_refused(hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.corrupt = True
    with pytest.raises(SystemExit) as exited:
        main(["models", "pull", REF])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert "sha256" in error and "is not the published" in error
    assert not any(blobs(in_process).iterdir())  # neither the blob nor the partial file


def test_serve_without_a_terminal_does_not_download(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model", REF, "--engine", "fake", "--data-dir", str(in_process / "data")])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert "not downloaded" in error and "--pull" in error
    assert not [r for r in hub.requests if r[0] == "GET" and r[1].endswith(FILE)]
