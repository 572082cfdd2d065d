"""``epistula`` command line: ``serve``, key and workspace management, batches."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from epistula import __version__
from epistula.auth.bootstrap import mint_first_key, open_key_store
from epistula.auth.cli import register_tenancy_commands, run_tenancy_command
from epistula.batch_cli import register_batch_commands, run_batch_command
from epistula.config import Settings, load_settings
from epistula.observability.logs import configure_logging


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the API server")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8080)")
    p.add_argument("--model", help="a configured model id or a path to a GGUF file")
    p.add_argument("--engine", choices=["llamacpp", "fake"], help="inference engine (default llamacpp)")
    p.add_argument("--config", type=Path, help="a TOML config file (also EPISTULA_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where state lives (also EPISTULA_DATA_DIR)")
    p.add_argument("--n-seq-max", type=int, help="concurrent sequences in the engine (default 16)")
    p.add_argument("--log-format", choices=["text", "json"], help="log lines as text (default) or one JSON object each")
    p.add_argument("--limit-concurrency", type=int, help="connections served at once, 503 beyond (default 1024)")
    p.add_argument("--timeout-keep-alive", type=int, help="idle keep-alive seconds (default 5)")
    p.add_argument("--timeout-request-headers", type=float, help="seconds to send request headers (default 10)")
    p.add_argument("--timeout-request-body", type=float, help="seconds to send a JSON request body (default 300)")
    p.add_argument("--forwarded-allow-ips", help="proxies whose X-Forwarded-* headers are trusted (default 127.0.0.1)")
    p.add_argument("--public-base-url", help="the server's URL as clients see it, for URLs in responses")


def ensure_key(settings: Settings) -> str:
    """The line telling the user which key to use; creates the first key if none exists."""
    if settings.api_key is not None:
        return "API key:  (from EPISTULA_API_KEY)"
    store = open_key_store(settings)
    try:
        key = mint_first_key(store)
        if key is not None:
            where = "the database" if settings.database_url else str(settings.data_dir)
            return f"API key:  {key}\n          (shown once; only its hash is stored in {where})"
        if store.count() == 0:
            return "API key:  (every key is disabled; `epistula keys create` makes a new one)"
        return "API key:  (already created; it was printed on first start; `epistula keys create` makes another)"
    finally:
        store.close()


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from epistula.http.app import create_app
    from epistula.http.server import uvicorn_config

    settings = load_settings(
        args.config,
        host=args.host,
        port=args.port,
        model=args.model,
        engine=args.engine,
        data_dir=args.data_dir,
        n_seq_max=args.n_seq_max,
        log_format=args.log_format,
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=args.timeout_keep_alive,
        timeout_request_headers=args.timeout_request_headers,
        timeout_request_body=args.timeout_request_body,
        forwarded_allow_ips=args.forwarded_allow_ips,
        public_base_url=args.public_base_url,
    )
    configure_logging(settings.log_format, settings.log_level)
    key_line = ensure_key(settings)
    app = create_app(settings)
    base_url = f"http://{settings.host}:{settings.port}"
    print(f"epistula {__version__}\nBase URL: {base_url}\n{key_line}", flush=True)
    print(f"Try:      ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=<key> python your_app.py", flush=True)
    uvicorn.Server(uvicorn_config(app, settings)).run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="epistula", description="The Anthropic Claude API on local models.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    register_tenancy_commands(sub)
    register_batch_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args)
    elif args.command in ("keys", "workspaces"):
        run_tenancy_command(args)
    elif args.command == "batch":
        run_batch_command(args)
    else:  # pragma: no cover
        parser.print_help()
        sys.exit(2)
