"""The composition root: ``create_app(settings)`` builds everything inside the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from epistula.accounting import Accounting
from epistula.api import console as console_route
from epistula.api import surface
from epistula.api.errors import handle_exception
from epistula.api.state import AppState
from epistula.auth import bootstrap as auth_bootstrap
from epistula.auth.keys import KeyStore
from epistula.batches.lifecycle import start_durable_services
from epistula.config import DEFAULT_ALIASES, ModelConfig, Settings
from epistula.engines.base import Engine
from epistula.errors import ApiError
from epistula.generation.gate import Gate
from epistula.generation.thinking import ThinkingSigner
from epistula.limits.factory import build_rate_limiter
from epistula.models.catalog import Catalog, ServedModel, make_template
from epistula.models.loader import build_engine
from epistula.observability.hook import ObservabilityHook
from epistula.observability.metrics import Metrics
from epistula.servertools import enabled_server_tools
from epistula.skills.service import SkillService
from epistula.storage.blobs import open_blobs
from epistula.storage.database import Database, open_database
from epistula.storage.skills import SkillStore

from .middleware import RequestContextMiddleware

EngineFactory = Callable[[Settings, ModelConfig], Engine]


def served_models(settings: Settings) -> tuple[list[ModelConfig], str]:
    """The configured models and the id of the default one (``--model`` may be a GGUF path)."""
    configs = list(settings.models)
    default = settings.model or (configs[0].id if configs else "")
    if settings.model and settings.model not in {m.id for m in configs}:
        path = Path(settings.model)
        model_id = path.stem.lower()
        configs = [ModelConfig(id=model_id, path=str(path), display_name=path.stem)]
        default = model_id
    if settings.mmproj:
        configs = [c.model_copy(update={"mmproj": settings.mmproj}) if c.id == default else c for c in configs]
    return configs, default


async def build_catalog(settings: Settings, factory: EngineFactory) -> Catalog:
    catalog = Catalog()
    configs, default = served_models(settings)
    for config in configs:
        engine = factory(settings, config)
        await engine.start()
        catalog.add(
            ServedModel(
                id=config.id,
                display_name=config.display_name or config.id,
                engine=engine,
                template=make_template(engine, config.chat_template),
                max_output_tokens=config.max_output_tokens,
                created_at=config.created_at,
                reasoning_override=config.reasoning,
                tools_override=config.tools,
                sampling=config.sampling,
                server_tools=enabled_server_tools(settings),
            )
        )
    if settings.default_aliases and default:
        for alias in DEFAULT_ALIASES:
            catalog.alias(alias, default)
    for alias, target in settings.aliases.items():
        catalog.alias(alias, target)
    return catalog


def open_key_store(settings: Settings, database: Database) -> KeyStore:
    """Keys and workspaces in the shared database, fixed keys registered."""
    store = auth_bootstrap.open_key_store(settings, database)
    auth_bootstrap.register_configured_keys(store, settings)
    return store


def open_skills(settings: Settings, database: Database) -> SkillService:
    """The Skills API's service: the app's database, the Files API's blob store."""
    return SkillService(
        SkillStore(database),
        open_blobs(settings.data_dir),
        max_upload_bytes=settings.skills_max_upload_bytes,
        max_files=settings.skills_max_files,
    )


def create_app(settings: Settings, *, engine_factory: EngineFactory = build_engine) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = await asyncio.to_thread(open_database, settings.database_url, settings.data_dir)
        keys = open_key_store(settings, database)
        catalog = await build_catalog(settings, engine_factory)
        signer = ThinkingSigner.from_data_dir(settings.data_dir)
        # Usage hooks go on the gate before the batch worker starts.
        gate = Gate()
        # Observability first (it must see requests that later hooks refuse), then rate limits.
        limiter = build_rate_limiter(settings, catalog)
        gate.add(ObservabilityHook(metrics))
        if limiter is not None:
            gate.add(limiter, count_tokens=True)
        accounting = Accounting(settings, resolve_model=lambda name: catalog.resolve(name).id)
        accounting.install(gate)
        accounting.open(database)
        skills = open_skills(settings, database)
        durable = await start_durable_services(settings, catalog, database, signer=signer, gate=gate, skills=skills)
        app.state.epistula = state = AppState(
            settings=settings,
            catalog=catalog,
            keys=keys,
            signer=signer,
            messages=durable.messages,
            metrics=metrics,
            batches=durable.batches,
            files=durable.files,
            skills=skills,
            accounting=accounting,
        )
        metrics.watch_engines(lambda: [(m.id, m.engine) for m in catalog.models])
        try:
            yield
        finally:
            await state.workers.close()
            if limiter is not None:
                await limiter.backend.close()
            await durable.close()
            await accounting.close()  # after the worker: its last items record their rows
            for model in catalog.models:
                await model.engine.close()
            database.close()

    metrics = Metrics()
    app = Starlette(
        routes=surface.routes(settings),
        lifespan=lifespan,
        exception_handlers={ApiError: handle_exception, HTTPException: handle_exception},
    )
    if settings.console_enabled:
        app.router.routes.extend(console_route.routes())
    app.add_middleware(
        RequestContextMiddleware,
        organization_id=settings.organization_id,
        metrics=metrics,
        log_content=settings.log_content,
    )
    return app
