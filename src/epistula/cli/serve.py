"""``epistula serve``: run the API server."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from epistula import __version__
from epistula.auth.bootstrap import mint_first_key, open_key_store
from epistula.config import Settings, load_settings
from epistula.observability.logs import configure_logging
from epistula.storage.database import open_database

from .models import resolve_serve_model
from .options import ConfigFile, DatabaseUrl, DataDir, setting_option


def ensure_key(settings: Settings) -> str:
    """The line telling the user which key to use; creates the first key if none exists."""
    if settings.api_key is not None:
        return "API key:  (from EPISTULA_API_KEY)"
    with open_database(settings.database_url, settings.data_dir) as database:
        store = open_key_store(settings, database)
        key = mint_first_key(store)
        if key is not None:
            where = "the database" if settings.database_url else str(settings.data_dir)
            return f"API key:  {key}\n          (shown once; only its hash is stored in {where})"
        if store.count() == 0:
            return "API key:  (every key is disabled; `epistula keys create` makes a new one)"
        return "API key:  (already created; it was printed on first start; `epistula keys create` makes another)"


def serve(
    host: Annotated[str | None, setting_option("host")] = None,
    port: Annotated[int | None, setting_option("port")] = None,
    model: Annotated[str | None, setting_option("model")] = None,
    mmproj: Annotated[str | None, setting_option("mmproj")] = None,
    engine: Annotated[Literal["llamacpp", "fake", "remote", "vllm"] | None, setting_option("engine")] = None,
    upstream: Annotated[list[str] | None, setting_option("upstream")] = None,
    tensor_parallel_size: Annotated[int | None, setting_option("tensor_parallel_size")] = None,
    pipeline_parallel_size: Annotated[int | None, setting_option("pipeline_parallel_size")] = None,
    distributed_executor_backend: Annotated[
        Literal["mp", "ray"] | None, setting_option("distributed_executor_backend")
    ] = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    n_seq_max: Annotated[int | None, setting_option("n_seq_max")] = None,
    log_format: Annotated[Literal["text", "json"] | None, setting_option("log_format")] = None,
    limit_concurrency: Annotated[int | None, setting_option("limit_concurrency")] = None,
    timeout_keep_alive: Annotated[int | None, setting_option("timeout_keep_alive")] = None,
    timeout_request_headers: Annotated[float | None, setting_option("timeout_request_headers")] = None,
    timeout_request_body: Annotated[float | None, setting_option("timeout_request_body")] = None,
    forwarded_allow_ips: Annotated[str | None, setting_option("forwarded_allow_ips")] = None,
    public_base_url: Annotated[str | None, setting_option("public_base_url")] = None,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="Download a Hugging Face --model that is not cached yet, even without a terminal."),
    ] = False,
) -> None:
    """Run the API server.

    Prints the base URL and, on first start, an API key (shown once)."""
    # Every other parameter is the setting of its name (None: not given here).
    overrides = {name: value for name, value in locals().items() if name not in ("config", "pull")}

    from epistula.http.app import create_app
    from epistula.http.server import Server, uvicorn_config

    settings = load_settings(config, **{**overrides, "upstream": upstream or None})
    settings = resolve_serve_model(settings, pull=pull)
    configure_logging(settings.log_format, settings.log_level)
    key_line = ensure_key(settings)
    app = create_app(settings)
    base_url = f"http://{settings.host}:{settings.port}"
    print(f"epistula {__version__}\nBase URL: {base_url}\n{key_line}", flush=True)
    print(f"Try:      ANTHROPIC_BASE_URL={base_url} ANTHROPIC_API_KEY=<key> python your_app.py", flush=True)
    Server(uvicorn_config(app, settings)).run()
