"""``epistula models``: pull, list, show and remove models; ``serve --model REF`` resolution."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from epistula.config import Settings
from epistula.models.errors import ModelError, ModelNotFound
from epistula.models.gguf_meta import read_metadata
from epistula.models.refs import HubRef, is_ref, parse_ref

# epistula.models.store is imported where used: it brings huggingface_hub, which the other
# commands (serve included, unless --model names a hub model) never need.

app = typer.Typer(name="models", help="Download, list, inspect and remove models.", no_args_is_help=True)

REF_HELP = "hf.co/<org>/<repo>:<QUANT>, hf.co/<org>/<repo>/<file>.gguf, ollama:<name>[:<tag>] or a GGUF path."
_FAILURES = (ModelError, OSError)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1000
    return f"{count} B"


class BarProgress:
    """A download bar on a terminal; elsewhere (logs, CI) a line every tenth of the file."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task = TaskID(0)
        self._name, self._total, self._done, self._shown = "", 0, 0, -1

    def begin(self, name: str, total: int, done: int) -> None:
        self._name, self._total, self._done, self._shown = name, total, done, -1
        if done:
            typer.echo(f"{name}: resuming at {_size(done)} of {_size(total)}", err=True)
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task(name, total=total, completed=done)
        else:
            self._line()

    def advance(self, count: int) -> None:
        self._done += count
        if self._bar is not None:
            self._bar.advance(self._task, count)
        else:
            self._line()

    def _line(self) -> None:
        tenth = self._done * 10 // self._total if self._total else 10
        if tenth != self._shown:
            self._shown = tenth
            typer.echo(f"{self._name}: {tenth * 10}% ({_size(self._done)} of {_size(self._total)})", err=True)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command()
def pull(ref: Annotated[str, typer.Argument(help=REF_HELP)]) -> None:
    """Download a model into the Hugging Face cache (resumes, verifies sha256)."""
    from epistula.models import store

    try:
        model = store.pull(ref, BarProgress())
    except _FAILURES as exc:
        raise _fail(exc) from exc
    typer.echo(f"{model.ref}: {_size(model.size_bytes)} at {model.path} (sha256 verified)")
    if model.projector:
        typer.echo(f"vision projector: {model.projector}")
    typer.echo(f"serve it: epistula serve --model {model.ref}")


@app.command("list")
def list_models() -> None:
    """The models in the Hugging Face cache and in Ollama's store."""
    from epistula.models import store

    rows = [(m.ref, _size(m.size_bytes), "yes" if m.projector else "") for m in store.list_models()]
    if not rows:
        typer.echo("no models yet: `epistula models pull hf.co/<org>/<repo>:Q4_K_M`")
        return
    width = max(len(r[0]) for r in rows)
    typer.echo(f"{'MODEL':<{width}}  {'SIZE':>9}  VISION")
    for name, size, vision in rows:
        typer.echo(f"{name:<{width}}  {size:>9}  {vision}")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help=REF_HELP)],
    template: Annotated[bool, typer.Option("--template", help="Print the whole chat template.")] = False,
) -> None:
    """A model's GGUF metadata: window, template, special tokens, tools, reasoning, vision."""
    from epistula.models import store

    try:
        model = store.locate(ref)
        meta = read_metadata(model.path)
    except _FAILURES as exc:
        raise _fail(exc) from exc
    first_line = meta.chat_template.strip().splitlines()[0][:70] if meta.chat_template.strip() else "(none: ChatML)"
    fields = {
        "model": model.ref,
        "id": model.model_id,
        "name": meta.name,
        "file": str(model.path) + (f" (+{len(model.parts) - 1} parts)" if len(model.parts) > 1 else ""),
        "size": _size(model.size_bytes),
        "architecture": meta.architecture,
        "quantization": meta.file_type,
        "context window": str(meta.context_length or "unknown"),
        "bos / eos": f"{meta.bos_token or '-'} / {meta.eos_token or '-'}",
        "tools in template": "yes" if meta.renders_tools else "no (described in the system prompt)",
        "reasoning": "yes (<think>)" if meta.reasons else "no",
        "vision projector": str(model.projector) if model.projector else "none",
        "chat template": first_line,
    }
    for key, value in fields.items():
        typer.echo(f"{key + ':':<18} {value}")
    if template:
        typer.echo(meta.chat_template)


@app.command("rm")
def remove(
    ref: Annotated[str, typer.Argument(help="hf.co/<org>/<repo>:<QUANT> or hf.co/<org>/<repo>/<file>.gguf")],
) -> None:
    """Delete a pulled model from the Hugging Face cache."""
    from epistula.models import store

    try:
        removed = store.remove(ref)
    except _FAILURES as exc:
        raise _fail(exc) from exc
    for path in removed:
        typer.echo(f"removed {path}")


def resolve_serve_model(settings: Settings, *, pull: bool) -> Settings:
    """``--model REF``: the settings serving the model REF names. A hub model not yet
    downloaded is pulled when ``pull`` is set or stdin is a terminal (saying so first);
    otherwise serving stops with the command that downloads it."""
    if settings.model is None or not is_ref(settings.model):
        return settings
    from epistula.models import store

    ref = settings.model
    try:
        try:
            model = store.locate(ref)
        except ModelNotFound as missing:
            if not isinstance(parse_ref(ref), HubRef):
                raise
            if not (pull or sys.stdin.isatty()):
                raise ModelNotFound(
                    f"{missing}. Not downloading without a terminal: run `epistula models pull {ref}` "
                    "or pass --pull to `epistula serve`"
                ) from missing
            typer.echo(f"{ref} is not downloaded yet: pulling it now", err=True)
            model = store.pull(ref, BarProgress())
        config = store.model_config(model)
    except _FAILURES as exc:
        raise _fail(exc) from exc
    return settings.model_copy(update={"models": [config], "model": config.id})
