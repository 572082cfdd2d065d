"""``epistula`` command line: ``serve`` (and key management)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from epistula import __version__
from epistula.auth.keys import KeyStore
from epistula.batch_cli import register_batch_commands, run_batch_command
from epistula.config import Settings, load_settings


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the API server")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--model", help="a configured model id or a path to a GGUF file")
    p.add_argument("--engine", choices=["llamacpp", "fake"], help="inference engine (default llamacpp)")
    p.add_argument("--config", type=Path, help="a TOML config file (also EPISTULA_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where state lives (also EPISTULA_DATA_DIR)")
    p.add_argument("--n-seq-max", type=int, help="concurrent sequences in the engine (default 16)")


def _keys_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("keys", help="manage API keys")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--name", default="cli")
    p.add_argument("--config", type=Path)
    p.add_argument("--data-dir", type=Path)


def ensure_key(settings: Settings) -> str:
    """The line telling the user which key to use; creates the first key if none exists."""
    if settings.api_key is not None:
        return "API key:  (from EPISTULA_API_KEY)"
    store = KeyStore(settings.data_dir / "epistula.db")
    try:
        if store.count() == 0:
            key, _ = store.create(name="default")
            return f"API key:  {key}\n          (shown once; only its hash is stored in {settings.data_dir})"
        return "API key:  (already created; it was printed on first start; `epistula keys create` makes another)"
    finally:
        store.close()


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from epistula.http.app import create_app

    settings = load_settings(
        args.config,
        host=args.host,
        port=args.port,
        model=args.model,
        engine=args.engine,
        data_dir=args.data_dir,
        n_seq_max=args.n_seq_max,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    key_line = ensure_key(settings)
    app = create_app(settings)
    base_url = f"http://{settings.host}:{settings.port}"
    print(f"epistula {__version__}\nBase URL: {base_url}\n{key_line}", flush=True)
    print(f"Try:      ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=<key> python your_app.py", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


def keys(args: argparse.Namespace) -> None:
    settings = load_settings(args.config, data_dir=args.data_dir)
    store = KeyStore(settings.data_dir / "epistula.db")
    try:
        if args.action == "create":
            key, _principal = store.create(name=args.name)
            print(key)
        else:
            print(store.count(), "active keys")
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="epistula", description="The Anthropic Claude API on local models.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _keys_parser(sub)
    register_batch_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    elif args.command == "keys":
        keys(args)
    elif args.command == "batch":
        run_batch_command(args)
    else:  # pragma: no cover
        parser.print_help()
        sys.exit(2)
