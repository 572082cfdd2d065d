"""``epistula claude``: Claude Code on a local epistula in one command.

Reuses the server at ``--base-url`` when its ``/health`` answers, else starts
``epistula serve`` there (with a fresh API key) and stops it afterwards; then runs the
installed ``claude`` with the environment that points it at epistula: the base URL and
key, every model tier (``ANTHROPIC_DEFAULT_{OPUS,SONNET,HAIKU}_MODEL``) set to the served
model, an output cap that fits the model's window, and the switches that keep all of
Claude Code's traffic local. Arguments after ``--`` (or unknown ones) go to ``claude``.

Claude Code's full prompt is about 12,000 tokens (:data:`FULL_PROMPT_TOKENS`); on a model
whose window is smaller than :data:`FULL_PROMPT_WINDOW` it says so, adds ``--bare`` (a
4 KB prompt with three tools) and names a larger model.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import typer

from .options import ConfigFile, setting_option

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
FULL_PROMPT_TOKENS = 12_000
"""Claude Code's first request without ``--bare``, in SmolLM2 tokens (2.1.332)."""
FULL_PROMPT_WINDOW = 32_768
"""The smallest window that leaves the full prompt room for several turns."""
LARGER_MODEL = (
    "a model with a 32k window, e.g. a Qwen2.5-Coder-0.5B-Instruct GGUF "
    "(`epistula claude --config ...` or `epistula serve --model path/to/qwen.gguf`)"
)
INSTALL = "npm install -g @anthropic-ai/claude-code"
LOCAL_ONLY = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


class LaunchError(Exception):
    """A problem the user can fix; printed without a traceback."""


@dataclass(frozen=True, slots=True)
class ServedModel:
    id: str
    context_window: int
    max_output_tokens: int


def output_cap(window: int, max_output_tokens: int) -> int:
    """``CLAUDE_CODE_MAX_OUTPUT_TOKENS``: a sixteenth of the window (512 for 8k, 2,048 for
    32k), at least 256 and at most 8,192, never above the model's own maximum. Claude
    Code otherwise asks for 32,000 tokens a turn, which a small model may spend rambling."""
    return max(1, min(max(256, min(8192, window // 16)), max_output_tokens))


def needs_bare(window: int, args: Sequence[str]) -> bool:
    return window < FULL_PROMPT_WINDOW and "--bare" not in args


def claude_env(base: Mapping[str, str], base_url: str, api_key: str, model: ServedModel) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in ("ANTHROPIC_AUTH_TOKEN",)}
    env.update(LOCAL_ONLY)
    env.update(
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": api_key,
            "ANTHROPIC_MODEL": model.id,
            "ANTHROPIC_DEFAULT_OPUS_MODEL": model.id,
            "ANTHROPIC_DEFAULT_SONNET_MODEL": model.id,
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": model.id,
            "ANTHROPIC_SMALL_FAST_MODEL": model.id,
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(output_cap(model.context_window, model.max_output_tokens)),
        }
    )
    return env


def _get(url: str, api_key: str | None = None, timeout: float = 2.0) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"x-api-key": api_key or "", "anthropic-version": "2023-06-01"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise LaunchError(f"{url}: unexpected answer")
    return data


def probe(base_url: str) -> list[str] | None:
    """The served model ids when an epistula answers ``/health`` there, else None."""
    try:
        models = _get(base_url.rstrip("/") + "/health").get("models")
    except (OSError, ValueError):
        return None
    return [str(m) for m in models] if isinstance(models, list) else []


def served_model(base_url: str, api_key: str, model_id: str) -> ServedModel:
    try:
        info = _get(f"{base_url.rstrip('/')}/v1/models/{model_id}", api_key)
    except urllib.error.HTTPError as exc:
        raise LaunchError(f"{base_url} refused the model lookup ({exc.code}); is the API key right?") from exc
    window, cap = info.get("max_input_tokens"), info.get("max_tokens")
    return ServedModel(
        id=model_id,
        context_window=window if isinstance(window, int) else 8192,
        max_output_tokens=cap if isinstance(cap, int) else 8192,
    )


def start_server(
    base_url: str, api_key: str, serve_args: Sequence[str], wait_s: float = 180.0
) -> subprocess.Popen[bytes]:
    """``epistula serve`` on ``base_url``'s port, until its ``/health`` answers."""
    port = base_url.rstrip("/").rsplit(":", 1)[-1]
    command = [sys.executable, "-m", "epistula", "serve", "--port", port, *serve_args]
    env = {**os.environ, "EPISTULA_API_KEY": api_key}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if probe(base_url) is not None:
            return server
        if server.poll() is not None:
            detail = (server.stderr.read() if server.stderr else b"").decode(errors="replace")[-2000:]
            raise LaunchError(f"epistula serve exited with status {server.returncode}:\n{detail}")
        time.sleep(0.2)
    server.terminate()
    raise LaunchError(f"epistula serve did not answer on {base_url} within {wait_s:.0f} s")


def run_claude(
    claude_args: Sequence[str],
    *,
    base_url: str = DEFAULT_BASE_URL,
    api_key: str | None = None,
    model: str | None = None,
    serve_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``claude`` against epistula; the exit status is claude's (127: not installed)."""
    env = dict(os.environ if env is None else env)
    claude = shutil.which("claude", path=env.get("PATH"))
    if claude is None:
        print(f"epistula claude: the `claude` command is not installed. Install it with:\n  {INSTALL}", file=sys.stderr)
        return 127
    server: subprocess.Popen[bytes] | None = None
    models = probe(base_url)
    if models is None:
        api_key = api_key or env.get("EPISTULA_API_KEY") or "sk-epistula-" + secrets.token_urlsafe(24)
        print(f"epistula claude: starting epistula on {base_url}", file=sys.stderr)
        server = start_server(base_url, api_key, serve_args)
        models = probe(base_url) or []
    api_key = api_key or env.get("EPISTULA_API_KEY") or env.get("ANTHROPIC_API_KEY")
    try:
        if not api_key:
            raise LaunchError(f"an epistula is running on {base_url}: pass its key (--api-key or EPISTULA_API_KEY)")
        if not models and model is None:
            raise LaunchError(f"{base_url} serves no model")
        chosen = served_model(base_url, api_key, model or models[0])
        args = list(claude_args)
        if needs_bare(chosen.context_window, args):
            print(
                f"epistula claude: {chosen.id} has a {chosen.context_window:,}-token window; Claude Code's full "
                f"prompt is about {FULL_PROMPT_TOKENS:,} tokens and needs {FULL_PROMPT_WINDOW:,}. Running with "
                f"--bare (three tools, a short prompt). For the full Claude Code use {LARGER_MODEL}.",
                file=sys.stderr,
            )
            args.insert(0, "--bare")
        return subprocess.run([claude, *args], env=claude_env(env, base_url, api_key, chosen), check=False).returncode
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def claude(
    ctx: typer.Context,
    base_url: Annotated[str, typer.Option(help="The server to reuse, or to start if none answers.")] = DEFAULT_BASE_URL,
    api_key: Annotated[str | None, setting_option("api_key")] = None,
    model: Annotated[str | None, setting_option("model")] = None,
    engine: Annotated[Literal["llamacpp", "fake"] | None, setting_option("engine")] = None,
    config: ConfigFile = None,
) -> None:
    """Run Claude Code against a local epistula (starting one if needed). Arguments after the
    options, or after ``--``, go to ``claude`` unchanged."""
    serve_args = [*(["--engine", engine] if engine else []), *(["--config", str(config)] if config else [])]
    try:
        code = run_claude(list(ctx.args), base_url=base_url, api_key=api_key, model=model, serve_args=serve_args)
    except LaunchError as exc:
        print(f"epistula claude: {exc}", file=sys.stderr)
        code = 1
    raise typer.Exit(code)
