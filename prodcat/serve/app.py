"""The app factory: the service over a model bundle, its endpoints, middleware and micro-batcher's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.serve.access import ApiKey, BodyLimit
from prodcat.serve.errors import EXCEPTION_HANDLERS
from prodcat.serve.metrics import RequestMetrics
from prodcat.serve.routes import predict_router, router
from prodcat.serve.schema import product_model
from prodcat.serve.service import Service
from prodcat.serve.settings import DEFAULT_SETTINGS, ServiceSettings

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})  # answered without the API key


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The micro-batcher runs while the app does; on stop it answers what it holds for up to `shutdown_seconds`."""
    service: Service = app.state.service
    await service.batcher.start()
    try:
        yield
    finally:
        await service.batcher.stop(service.settings.shutdown_seconds)


def create_app(bundle: Bundle | Path | str, settings: ServiceSettings = DEFAULT_SETTINGS) -> FastAPI:
    """The service over `bundle` (a loaded one, or its folder), taking requests as `settings` say."""
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    app = FastAPI(
        title="prodcat",
        summary=f"Product categories from the {bundle.manifest['variant']} model bundle",
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.service = Service.over(bundle, settings)
    routers = [predict_router(product_model(bundle.dataset), settings.max_batch), router]
    for included in routers:
        app.include_router(included)
    app.add_middleware(BodyLimit, max_bytes=settings.body_limit)
    if settings.api_key:
        app.add_middleware(ApiKey, key=settings.api_key, open_paths=OPEN_PATHS)
    routes = [*app.routes, *(route for included in routers for route in included.routes)]  # the docs' own, then ours
    endpoints = frozenset(path for route in routes if isinstance(path := getattr(route, "path", None), str))
    app.add_middleware(RequestMetrics, metrics=app.state.service.metrics, endpoints=endpoints)  # outermost: counts refusals too
    return app
