"""Build an engine for a configured model (the only place that picks an implementation)."""

from __future__ import annotations

from epistula.config import ModelConfig, Settings
from epistula.engines.base import Engine
from epistula.models.catalog import resolve_model_path


def build_engine(settings: Settings, model: ModelConfig) -> Engine:
    if settings.engine == "fake":
        from epistula.engines.fake import FakeEngine

        return FakeEngine(
            name=model.id,
            context_window=model.context_window or 8192,
            prompt_cache_bytes=settings.prompt_cache_bytes,
            prompt_cache_min_tokens=settings.prompt_cache_min_tokens,
        )
    if settings.engine == "vllm":
        from epistula.engines.vllm.engine import VllmEngine, VllmOptions

        return VllmEngine(
            model.path if isinstance(model.path, str) else str(resolve_model_path(model.path)),
            name=model.id,
            options=VllmOptions(
                max_model_len=model.context_window or settings.n_ctx,
                max_num_seqs=settings.n_seq_max,
                tensor_parallel_size=settings.tensor_parallel_size,
                pipeline_parallel_size=settings.pipeline_parallel_size,
                distributed_executor_backend=settings.distributed_executor_backend,
                gpu_memory_utilization=settings.gpu_memory_utilization,
                prompt_cache_min_tokens=settings.prompt_cache_min_tokens,
            ),
        )
    from epistula.engines.llamacpp.engine import LlamaCppEngine

    path = resolve_model_path(model.path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if settings.engine == "remote":
        from epistula.engines.remote.engine import RemoteEngine, RemoteOptions

        return RemoteEngine(
            str(path),
            settings.upstream,
            name=model.id,
            context_window=model.context_window or settings.n_ctx,
            options=RemoteOptions(
                connect_timeout=settings.upstream_connect_timeout,
                read_timeout=settings.upstream_read_timeout,
                health_interval=settings.upstream_health_interval,
                route_block_tokens=settings.route_block_tokens,
                prompt_cache_min_tokens=settings.prompt_cache_min_tokens,
                upstream_model=settings.upstream_model or "",
            ),
        )
    return LlamaCppEngine(
        str(path),
        n_ctx=model.context_window or settings.n_ctx,
        n_seq_max=settings.n_seq_max,
        n_threads=settings.n_threads,
        max_queue=settings.max_queue,
        name=model.id,
        prompt_cache_bytes=settings.prompt_cache_bytes,
        prompt_cache_min_tokens=settings.prompt_cache_min_tokens,
        parked_cache_bytes=settings.parked_cache_bytes,
        kv_cache_tokens=settings.kv_cache_tokens,
        mmproj=str(resolve_model_path(model.mmproj)) if model.mmproj else None,
    )
