"""The endpoints on their routers: each answers from the service it reaches through `current_service`, in any app."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from devtools.fake_bundle import MANIFEST, fake_bundle, product
from prodcat.serve import ServiceSettings
from prodcat.serve.routes import predict_router, router
from prodcat.serve.schema import product_model
from prodcat.serve.service import Service


def bare_app(*routers: object) -> FastAPI:
    """An app of only `routers` over the fake bundle: no middleware, no exception handlers, no lifespan."""
    app = FastAPI()
    app.state.service = Service.over(fake_bundle(), ServiceSettings(cache_size=0))
    for included in routers:
        app.include_router(included)
    return app


def test_the_shared_router_answers_health_and_model_without_the_rest_of_the_app() -> None:
    with TestClient(bare_app(router)) as client:
        assert client.get("/health").json() == {"status": "ok", "variant": "fake"}
        assert client.get("/model").json() == MANIFEST
        assert client.post("/predict", json=[product(0)]).status_code == 404  # /predict is the bundle's own router


def test_the_predict_router_takes_the_bundles_products_up_to_its_batch_limit() -> None:
    app = bare_app(predict_router(product_model(fake_bundle().dataset), max_batch=2))

    async def post(body: list[dict]) -> httpx.Response:
        await app.state.service.batcher.start()  # the app factory's lifespan does this
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve.test") as client:
                return await client.post("/predict", json=body)
        finally:
            await app.state.service.batcher.stop()

    answered = asyncio.run(post([product(0, "Chess"), {"Product Name": "Kite"}]))
    assert [(answer["id"], answer["label"]) for answer in answered.json()] == [("p0", "Toys"), (None, "Games")]
    too_many = asyncio.run(post([product(0)] * 3))
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["type"] == "too_long"  # 413 is the app's handler
