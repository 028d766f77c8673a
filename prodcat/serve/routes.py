"""The service's endpoints: module-level functions on routers, each reaching the service through one dependency.

POST /predict's body is a list of the bundle's products, a model built from its manifest, so `predict_router`
gives `predict` that type per app; the other endpoints are the same for every bundle (`router`).

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime.
"""

import functools
import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from prodcat.serve.batcher import unless_client_leaves
from prodcat.serve.schema import Health, Prediction
from prodcat.serve.service import Service, current_service

ServiceDep = Annotated[Service, Depends(current_service)]

router = APIRouter()


@router.get("/health")
async def health(service: ServiceDep) -> Health:
    return Health(status="ok", variant=service.bundle.manifest["variant"])


@router.get("/model")
async def model(service: ServiceDep) -> dict[str, Any]:
    """The bundle's manifest as written: variant, labels, columns, scoring path, scores, versions."""
    return service.bundle.manifest


@router.get("/metrics", include_in_schema=False)
async def prometheus(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def predict(request: Request, products: list[BaseModel], service: ServiceDep) -> list[Prediction]:
    """The label, its path with the probability of each level, and the top 3 categories of each product, in order."""
    rows = [product.model_dump(by_alias=True) for product in products]
    result = await unless_client_leaves(request.receive, service.answers(rows))
    service.metrics.answered([answer.top[0].probability for answer in result])
    return result


def predict_router(product: type[BaseModel], max_batch: int) -> APIRouter:
    """POST /predict taking 1 to `max_batch` of `product` (the bundle's Product model): `predict` with that body type."""
    signature = inspect.signature(predict)
    body = Annotated[list[product], Body(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]

    @functools.wraps(predict)
    async def endpoint(**arguments: Any) -> list[Prediction]:
        return await predict(**arguments)

    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            parameter.replace(annotation=body) if parameter.name == "products" else parameter for parameter in signature.parameters.values()
        ]
    )
    products = APIRouter()
    products.add_api_route("/predict", endpoint, methods=["POST"], response_model=list[Prediction])
    return products
