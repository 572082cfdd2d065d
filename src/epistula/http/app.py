"""The composition root: ``create_app(settings)`` builds everything inside the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from epistula.auth.keys import KeyStore
from epistula.batches.lifecycle import start_durable_services
from epistula.catalog import Catalog, ServedModel, make_template
from epistula.config import DEFAULT_ALIASES, ModelConfig, Settings
from epistula.engines.base import Engine
from epistula.engines.loader import build_engine
from epistula.errors import ApiError
from epistula.thinking import ThinkingSigner

from .errors import handle_exception
from .middleware import RequestContextMiddleware
from .routes import batches, files, health, messages, models
from .state import AppState

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
            )
        )
    if settings.default_aliases and default:
        for alias in DEFAULT_ALIASES:
            catalog.alias(alias, default)
    for alias, target in settings.aliases.items():
        catalog.alias(alias, target)
    return catalog


def open_key_store(settings: Settings) -> KeyStore:
    store = KeyStore(settings.data_dir / "epistula.db")
    if settings.api_key is not None:
        store.add(settings.api_key.get_secret_value(), name="EPISTULA_API_KEY")
    return store


def create_app(settings: Settings, *, engine_factory: EngineFactory = build_engine) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keys = open_key_store(settings)
        catalog = await build_catalog(settings, engine_factory)
        signer = ThinkingSigner.from_data_dir(settings.data_dir)
        durable = await start_durable_services(settings, catalog, signer=signer)
        app.state.epistula = AppState(
            settings=settings, catalog=catalog, keys=keys, signer=signer, batches=durable.batches, files=durable.files
        )
        try:
            yield
        finally:
            await durable.close()
            for model in catalog.models:
                await model.engine.close()
            keys.close()

    routes = [
        Route("/", health.root, methods=["GET", "HEAD"]),
        Route("/health", health.health, methods=["GET"]),
        Route("/v1/messages", messages.create_message, methods=["POST"]),
        Route("/v1/messages/count_tokens", messages.count_tokens, methods=["POST"]),
        Route("/v1/models", models.list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", models.get_model, methods=["GET"]),
        *batches.routes(),
        *files.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: handle_exception, HTTPException: handle_exception},
    )
    app.add_middleware(RequestContextMiddleware, organization_id=settings.organization_id)
    return app
