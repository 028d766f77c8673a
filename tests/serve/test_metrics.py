"""The service's Prometheus metrics at /metrics: requests, latency, micro-batch sizes, low-confidence answers, cache lookups."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from devtools.fake_bundle import fake_bundle, product
from prodcat.serve import ServiceSettings, create_app


def samples(client: TestClient) -> dict[tuple, float]:
    """/metrics parsed: (sample name, sorted label items) -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_requests_are_counted_by_endpoint_and_status_with_their_latency() -> None:
    with TestClient(create_app(fake_bundle(), ServiceSettings(max_batch=2, max_body_bytes=4096))) as client:
        client.post("/predict", json=[product(0)])
        client.post("/predict", json=[product(1), product(2)])
        client.post("/predict", json=[{"Uniq Id": "a"}])  # 422: no text
        client.post("/predict", json=[product(0)] * 3)  # 413: over max_batch
        client.post("/predict", content=b"[" + b" " * 5000 + b"]", headers={"content-type": "application/json"})  # 413: over the body limit
        client.get("/health")
        client.get("/nowhere/1")
        client.get("/nowhere/2")
        found = samples(client)
    requests = {labels: value for (name, labels), value in found.items() if name == "prodcat_requests_total"}
    assert requests == {
        (("endpoint", "/predict"), ("status", "200")): 2,
        (("endpoint", "/predict"), ("status", "422")): 1,
        (("endpoint", "/predict"), ("status", "413")): 2,
        (("endpoint", "/health"), ("status", "200")): 1,
        (("endpoint", "other"), ("status", "404")): 2,  # unknown paths share one label
    }
    assert found[("prodcat_request_seconds_count", (("endpoint", "/predict"),))] == 5
    assert 0 < found[("prodcat_request_seconds_sum", (("endpoint", "/predict"),))] < 60


async def post_together(app: FastAPI, bodies: list[list[dict]]) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
        responses = await asyncio.gather(*(client.post("/predict", json=body) for body in bodies))
    assert [response.status_code for response in responses] == [200] * len(bodies)


def test_micro_batch_sizes_are_the_rows_of_each_scoring_call() -> None:
    bundle = fake_bundle(seconds=0.05)
    app = create_app(bundle, ServiceSettings(micro_batch_wait_ms=200, cache_size=0))
    with TestClient(app) as client:  # the lifespan runs in the client's loop; the requests are posted from one more
        client.portal.call(post_together, app, [[product(index), product(10 + index)] for index in range(3)])  # 3 requests of 2 rows
        client.post("/predict", json=[product(20)])
        found = samples(client)
    assert [len(raw) for raw in bundle.calls] == [6, 1]
    assert found[("prodcat_batch_rows_count", ())] == 2
    assert found[("prodcat_batch_rows_sum", ())] == 7
    assert found[("prodcat_batch_rows_bucket", (("le", "1.0"),))] == 1
    assert found[("prodcat_batch_rows_bucket", (("le", "4.0"),))] == 1
    assert found[("prodcat_batch_rows_bucket", (("le", "8.0"),))] == 2
    assert found[("prodcat_score_seconds_count", ())] == 2
    assert found[("prodcat_score_seconds_sum", ())] >= 0.1


def test_low_confidence_answers_are_counted_against_the_bundles_threshold() -> None:
    """The fake answers a name starting with "?" with top-1 probability 0.4, under the manifest's monitor.low_confidence (0.5)."""
    with TestClient(create_app(fake_bundle())) as client:
        client.post("/predict", json=[product(0), product(1, "?Kite"), product(2, "?Chess")])
        client.post("/predict", json=[product(3), product(4, "?Kite")])  # "?Kite" again, from the cache: counted again
        found = samples(client)
    assert found[("prodcat_predictions_total", ())] == 5
    assert found[("prodcat_low_confidence_predictions_total", ())] == 3
    assert found[("prodcat_low_confidence_threshold", ())] == 0.5


@pytest.mark.parametrize(("threshold", "low"), [(0.3, 0), (0.61, 2)])
def test_the_threshold_is_the_bundles_own(threshold: float, low: int) -> None:
    bundle = fake_bundle()
    bundle = fake_bundle(manifest={**bundle.manifest, "monitor": {**bundle.manifest["monitor"], "low_confidence": threshold}})
    with TestClient(create_app(bundle)) as client:
        client.post("/predict", json=[product(0), product(1)])
        assert samples(client)[("prodcat_low_confidence_predictions_total", ())] == low


def test_each_app_counts_in_its_own_registry() -> None:
    with TestClient(create_app(fake_bundle())) as first, TestClient(create_app(fake_bundle())) as second:
        first.post("/predict", json=[product(0)])
        assert samples(first)[("prodcat_predictions_total", ())] == 1
        assert samples(second)[("prodcat_predictions_total", ())] == 0
