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
import uvicorn

import epistula.http.app
from epistula.cli import main
from epistula.config import Settings
from processes import ServeProcess
from vision.projector import build_projector

from .hub_double import COMMIT, HubDouble, serve_hub
from .paths import SMOLLM2_GGUF

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
FILE = SMOLLM2_GGUF.name
REF = f"hf.co/{REPO}:Q4_1"


PROJECTOR = "mmproj-SmolLM2-135M-Instruct-f16.gguf"


@pytest.fixture()
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubDouble]:
    projector = build_projector(tmp_path_factory.mktemp("repo") / PROJECTOR)  # a working one: the model serves images
    files = {FILE: SMOLLM2_GGUF, PROJECTOR: projector, "README.md": Path(__file__)}
    with serve_hub(REPO, files) as double:
        yield double


@pytest.fixture()
def in_process(hub: HubDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands run in this process against the double (huggingface_hub reads its
    endpoint and cache from these constants on each call), with stdin not a terminal."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama"))
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``epistula ARGS`` in this process: its exit status, stdout and stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


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
            if partial and partial[0].stat().st_size >= 4 << 20:
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
def test_pull_resumes_after_a_kill_verifies_and_serves(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path = in_process
    env = hub_env(hub, tmp_path)
    hub.delay = 0.1  # ~10 s for the whole file: time to kill it early on
    kept = kill_mid_transfer(env, tmp_path)
    assert 0 < kept < SMOLLM2_GGUF.stat().st_size
    assert not any(p.suffix != ".incomplete" for p in blobs(tmp_path).iterdir())

    hub.delay = 0.0
    hub.requests.clear()
    code, out, err = run(capsys, "models", "pull", REF)
    assert code == 0, err
    assert f"{FILE}: resuming at" in err
    assert f"{FILE}: 100% (98.4 MB of 98.4 MB)" in err
    assert "sha256 verified" in out
    ranges = [r for method, path, r in hub.requests if method == "GET" and path.endswith(FILE)]
    assert len(ranges) == 1 and ranges[0] is not None
    assert int(ranges[0].removeprefix("bytes=").rstrip("-")) >= kept  # only the rest was sent
    pointer = tmp_path / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT / FILE
    assert pointer.is_symlink() and pointer.stat().st_size == SMOLLM2_GGUF.stat().st_size
    assert not list(blobs(tmp_path).glob("*.incomplete"))

    assert (pointer.parent / PROJECTOR).is_file()  # the projector came along

    code, listed, _ = run(capsys, "models", "list")
    assert code == 0 and f"hf.co/{REPO}/{FILE}" in listed and "yes" in listed  # vision projector
    code, shown, _ = run(capsys, "models", "show", REF)
    assert code == 0 and "context window:    8192" in shown and "architecture:      llama" in shown
    assert "bos / eos:         <|im_start|> / <|im_end|>" in shown
    assert f"vision projector:  {pointer.parent / PROJECTOR}" in shown

    server = ServeProcess(tmp_path / "serve", "--engine", "llamacpp", "--model", REF, env=env)
    try:
        client = server.client(default_headers={"anthropic-version": "2023-06-01"})
        model_id = FILE.removesuffix(".gguf").lower()
        info = client.models.retrieve(model_id)
        assert info.max_input_tokens == 8192
        assert info.capabilities is not None and info.capabilities.image_input.supported  # its projector
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

    code, removed, _ = run(capsys, "models", "rm", REF)
    assert code == 0 and removed.count("removed") == 2  # the model and its projector
    assert not (tmp_path / "hub" / f"models--{REPO.replace('/', '--')}").exists()


def test_a_corrupted_download_is_refused(hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.corrupt = True
    code, _, error = run(capsys, "models", "pull", REF)
    assert code == 1
    assert "sha256" in error and "is not the published" in error
    assert not any(blobs(in_process).iterdir())  # neither the blob nor the partial file


def partial_download(tmp: Path, hub: HubDouble, data: bytes) -> Path:
    """A ``.incomplete`` file as a killed pull leaves it."""
    partial = blobs(tmp) / f"{hub.hashes[FILE]}.incomplete"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data)
    return partial


def test_a_mirror_that_ignores_ranges_gets_the_whole_file(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.ranges = False
    partial_download(in_process, hub, b"bytes that are not the model's")
    code, out, err = run(capsys, "models", "pull", REF)
    assert code == 0, err
    assert "sha256 verified" in out and f"{FILE}: 100%" in err
    assert (blobs(in_process) / hub.hashes[FILE]).stat().st_size == SMOLLM2_GGUF.stat().st_size


def test_a_complete_partial_file_is_only_checked(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after the last byte, before the rename: the server answers 416, nothing is sent."""
    partial_download(in_process, hub, SMOLLM2_GGUF.read_bytes())
    code, out, err = run(capsys, "models", "pull", REF)
    assert code == 0, err
    assert "sha256 verified" in out
    sent = [(path, r) for method, path, r in hub.requests if method == "GET" and path.endswith(FILE)]
    assert sent == [(f"/{REPO}/resolve/main/{FILE}", f"bytes={SMOLLM2_GGUF.stat().st_size}-")]
    assert (blobs(in_process) / hub.hashes[FILE]).is_file()


def test_serve_without_a_terminal_does_not_download(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, error = run(capsys, "serve", "--model", REF, "--engine", "fake", "--data-dir", str(in_process / "data"))
    assert code == 1
    assert "not downloaded" in error and "--pull" in error
    assert not [r for r in hub.requests if r[0] == "GET" and r[1].endswith(FILE)]


def test_serve_pull_downloads_first(
    hub: HubDouble, in_process: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--pull``: the download happens (with its progress), then the server is built on it."""
    seen: dict[str, Settings] = {}
    monkeypatch.setattr(epistula.http.app, "create_app", lambda settings: seen.setdefault("settings", settings))
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: None)
    args = ("serve", "--pull", "--model", REF, "--engine", "fake", "--data-dir", str(in_process / "data"))
    code, _, error = run(capsys, *args)
    assert code == 0, error
    assert "is not downloaded yet: pulling it now" in error and f"{FILE}: 100%" in error
    settings = seen["settings"]
    model_id = FILE.removesuffix(".gguf").lower()
    assert settings.model == model_id and [m.id for m in settings.models] == [model_id]
    served = Path(str(settings.models[0].path))
    assert served.is_symlink() and served.stat().st_size == SMOLLM2_GGUF.stat().st_size
