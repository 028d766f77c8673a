"""The online service: request validation, micro-batching, and a real server over a trained bundle."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from devtools.processes import background, free_port, run, tool_env, wait_until_healthy
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.data.catalog import read_catalog
from prodcat.inference.serve import create_app, served_columns

ROOT = Path(__file__).resolve().parents[2]  # servers run from here: this checkout's prodcat is the one served
LABELS = ["Books", "Games", "Toys"]
MANIFEST = {
    "variant": "fake",
    "labels": LABELS,
    "inference": {
        "dataset": {
            "id_column": "Uniq Id",
            "category_column": "Category",
            "text_columns": ["Product Name", "About Product"],
            "price_column": "Selling Price",
            "categorical_columns": ["Is Amazon Seller"],
        },
    },
}


@dataclass(frozen=True)
class FakeBundle(Bundle):
    """Scores from the raw row alone (label = name length mod 3), so a row answered for another request shows.
    Records the raw frame of every call; `seconds` makes a call slow enough for requests to pile up."""

    calls: list[pd.DataFrame] = field(default_factory=list)
    seconds: float = 0.0

    def score(self, raw: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
        self.calls.append(raw)
        time.sleep(self.seconds)
        first = raw["Product Name"].fillna("").str.len() % len(LABELS)
        scored = pd.DataFrame({"id": raw["Uniq Id"].astype(str), "predicted": [LABELS[i] for i in first]})
        for rank in range(top_k):
            scored[f"top{rank + 1}_category"] = [LABELS[(i + rank) % len(LABELS)] for i in first]
            scored[f"top{rank + 1}_probability"] = [0.6, 0.3, 0.1][rank]
        return scored


def fake_bundle(seconds: float = 0.0) -> FakeBundle:
    return FakeBundle(Path("fake"), MANIFEST, predictor=None, seconds=seconds)


def product(index: int, name: str | None = None) -> dict:
    return {"Uniq Id": f"p{index}", "Product Name": name or f"Puzzle {'x' * index}", "Selling Price": "$12.99", "Is Amazon Seller": "Y"}


@pytest.fixture()
def client() -> TestClient:
    with TestClient(create_app(fake_bundle(), max_batch=4)) as client:
        yield client


def test_predict_answers_label_and_top3_per_product_in_order(client: TestClient) -> None:
    response = client.post("/predict", json=[product(0, "Chess"), product(1, "Kite")])  # the fake: 5 letters -> Toys, 4 -> Games
    assert response.status_code == 200
    assert response.json() == [
        {"id": "p0", "label": "Toys", "top": [{"label": "Toys", "probability": 0.6}, {"label": "Books", "probability": 0.3}, {"label": "Games", "probability": 0.1}]},
        {"id": "p1", "label": "Games", "top": [{"label": "Games", "probability": 0.6}, {"label": "Toys", "probability": 0.3}, {"label": "Books", "probability": 0.1}]},
    ]


def test_products_reach_the_bundle_as_catalog_rows(client: TestClient) -> None:
    """Blanks and absent columns are missing, as read_catalog reads a CSV; a numeric price becomes its text; other keys are dropped."""
    body = [{"Uniq Id": "a", "Product Name": "Kite", "About Product": "", "Selling Price": 12.5, "Category": "Toys | Kites"}]
    assert client.post("/predict", json=body).status_code == 200
    (raw,) = client.app.state.bundle.calls
    assert raw.to_dict("records") == [{"Uniq Id": "a", "Product Name": "Kite", "About Product": None, "Selling Price": "12.5", "Is Amazon Seller": None}]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([{"Uniq Id": "a", "Product Name": 5}], ["body", 0, "Product Name"], "Input should be a valid string"),
        ([{"Uniq Id": "a", "Product Name": "Kite", "Is Amazon Seller": True}], ["body", 0, "Is Amazon Seller"], "Input should be a valid string"),
        ([{"Uniq Id": "a", "Product Name": "Kite", "Selling Price": [1]}], ["body", 0, "Selling Price", "str"], "Input should be a valid string"),
        ([{"Product Name": "Kite"}], ["body", 0, "Uniq Id"], "Field required"),
        ([{"Uniq Id": 7, "Product Name": "Kite"}], ["body", 0, "Uniq Id"], "Input should be a valid string"),
        ([{"Uniq Id": "a", "Product Name": "  ", "About Product": None}], ["body", 0], "at least one of the text fields Product Name, About Product"),
        ([product(0), "Kite"], ["body", 1], "Input should be a valid dictionary"),
        ({"Uniq Id": "a", "Product Name": "Kite"}, ["body"], "Input should be a valid list"),
        ([], ["body"], "List should have at least 1 item"),
    ],
)
def test_a_bad_payload_is_422_naming_the_field(client: TestClient, body: object, field: list, message: str) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == field and message in problem["msg"]


@pytest.mark.parametrize("content", [b"[{", b"", b"not json", b'[{"Uniq Id": "a",}]'])
def test_malformed_json_is_422_not_500(client: TestClient, content: bytes) -> None:
    response = client.post("/predict", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] in {"json_invalid", "missing"}


def test_an_oversized_batch_is_413_with_the_limit(client: TestClient) -> None:
    response = client.post("/predict", json=[{}] * 5)  # too many is said before anything about the items
    assert response.status_code == 413
    assert response.json() == {"detail": "at most 4 products per request, got 5: split the batch"}
    assert client.post("/predict", json=[product(index) for index in range(4)]).status_code == 200


def test_health_and_model(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "variant": "fake"}
    assert client.get("/model").json() == MANIFEST


async def post_concurrently(app: FastAPI, bodies: list[list[dict]], spacing: float = 0.0) -> list[httpx.Response]:
    """All requests in flight together (the n-th sent after n * `spacing` seconds), against the app in this event loop."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve.test") as client:

            async def post(index: int, body: list[dict]) -> httpx.Response:
                await asyncio.sleep(index * spacing)
                return await client.post("/predict", json=body)

            return await asyncio.gather(*(post(index, body) for index, body in enumerate(bodies)))


def test_concurrent_requests_share_one_score_call_and_get_their_own_rows() -> None:
    bundle = fake_bundle(seconds=0.05)
    bodies = [[product(3 * request + item) for item in range(request % 3 + 1)] for request in range(12)]  # 1 to 3 products each
    responses = asyncio.run(post_concurrently(create_app(bundle, micro_batch_wait_ms=20), bodies))

    assert [response.status_code for response in responses] == [200] * 12
    assert len(bundle.calls) < 4 and sum(len(raw) for raw in bundle.calls) == sum(len(body) for body in bodies)
    alone = fake_bundle()
    for body, response in zip(bodies, responses):  # each request gets exactly what scoring it alone gives
        expected = alone.score(pd.DataFrame(body))
        assert [item["id"] for item in response.json()] == [row["Uniq Id"] for row in body]
        assert [item["label"] for item in response.json()] == expected["predicted"].tolist()


def test_requests_within_the_wait_share_a_call_even_when_scoring_is_instant() -> None:
    bundle = fake_bundle()
    bodies = [[product(index)] for index in range(5)]
    responses = asyncio.run(post_concurrently(create_app(bundle, micro_batch_wait_ms=500), bodies, spacing=0.02))
    assert all(response.status_code == 200 for response in responses)
    assert [len(raw) for raw in bundle.calls] == [5]


def test_a_batch_never_exceeds_the_rows_limit() -> None:
    bundle = fake_bundle(seconds=0.02)
    bodies = [[product(2 * request), product(2 * request + 1)] for request in range(6)]
    responses = asyncio.run(post_concurrently(create_app(bundle, micro_batch_wait_ms=20, micro_batch_rows=5), bodies))
    assert all(response.status_code == 200 for response in responses)
    assert [len(raw) for raw in bundle.calls] == [4, 4, 4]  # two requests of 2 fit in 5 rows, a third does not


def test_a_failing_score_fails_only_its_batch_and_the_service_goes_on() -> None:
    @dataclass(frozen=True)
    class Flaky(FakeBundle):
        def score(self, raw: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
            if len(self.calls) == 0:
                self.calls.append(raw)
                raise RuntimeError("encoder crashed")
            return super().score(raw, top_k)

    with TestClient(create_app(Flaky(Path("fake"), MANIFEST, None)), raise_server_exceptions=False) as client:
        assert client.post("/predict", json=[product(0)]).status_code == 500
        assert client.post("/predict", json=[product(0)]).status_code == 200


# --- over the bundle that `dvc repro` built on the small catalog -------------------------------------------


def test_serve_without_a_bundle_fails_fast_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prodcat.inference.serve", "--bundle", str(tmp_path / "nowhere"), "--port", str(free_port())],
        cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"serve: error: model bundle not found: {tmp_path / 'nowhere'}" in result.stderr


def split_rows(project: Path, bundle: Bundle, split: str = "test") -> pd.DataFrame:
    """The raw catalog rows of a split, as read_catalog reads them, in the columns the service takes."""
    catalog = read_catalog(yaml.safe_load((project / "params.yaml").read_text())["data"]["catalog"])
    ids = pd.read_parquet(project / f"data/processed/{split}.parquet", columns=["id"])["id"]
    return catalog[catalog[bundle.dataset.id_column].isin(ids)][served_columns(bundle.dataset)].reset_index(drop=True)


def as_json(rows: pd.DataFrame) -> list[dict]:
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


@pytest.mark.slow
def test_a_real_server_classifies_test_products_as_batch_prediction_does(trained_project: Path, tmp_path: Path) -> None:
    folder = trained_project / "models/bundle"
    bundle = load_bundle(folder)
    rows = split_rows(trained_project, bundle)
    expected = bundle.score(rows)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "prodcat.inference.serve", "--bundle", str(folder), "--port", str(port), "--max-batch", "32"]
    with background(command, ROOT, tool_env(), tmp_path / "serve.log") as server:
        wait_until_healthy(url, server, tmp_path / "serve.log")
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "variant": bundle.manifest["variant"]}
        assert httpx.get(f"{url}/model").json() == bundle.manifest
        answers = []
        for start in range(0, len(rows), 32):
            response = httpx.post(f"{url}/predict", json=as_json(rows.iloc[start : start + 32]), timeout=60)
            assert response.status_code == 200, response.text
            answers += response.json()
        too_many = httpx.post(f"{url}/predict", json=as_json(rows.head(33)))
        assert too_many.status_code == 413 and "at most 32 products" in too_many.json()["detail"]
    assert server.poll() is not None  # stopped, not left behind

    assert len(answers) == len(rows) > 50
    assert [answer["id"] for answer in answers] == expected["id"].tolist()
    assert [answer["label"] for answer in answers] == expected["predicted"].tolist()
    assert [[top["label"] for top in answer["top"]] for answer in answers] == expected[["top1_category", "top2_category", "top3_category"]].values.tolist()
    assert [answer["top"][0]["probability"] for answer in answers] == pytest.approx(expected["top1_probability"].tolist(), abs=2e-4)


@pytest.fixture(scope="module")
def hybrid_bundle(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A bundle of the hybrid variant (an encoder and the sparse model) from the trained project, whichever variant won."""
    folder = tmp_path_factory.mktemp("hybrid")
    choice = json.loads((trained_project / "models/champion.json").read_text())
    (folder / "choice.json").write_text(json.dumps({**choice, "champion": "hybrid"}))
    command = [sys.executable, "-m", "stages.bundle", "--data", "data/processed", "--models", "models", "--champion", str(folder / "choice.json")]
    run([*command, "--scores", "metrics/champion.json", "--output", str(folder / "bundle")], trained_project)
    return load_bundle(folder / "bundle")


@pytest.mark.slow
def test_concurrent_requests_share_one_encoder_call_with_the_answers_of_single_requests(trained_project: Path, hybrid_bundle: Bundle) -> None:
    calls: list[int] = []

    def counted(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: calls.append(len(texts)) or encode(texts)

    (encoder,) = hybrid_bundle.predictor.encoders
    counting = replace(hybrid_bundle, predictor=replace(hybrid_bundle.predictor, encoders={encoder: counted(hybrid_bundle.predictor.encoders[encoder])}))
    products = as_json(split_rows(trained_project, hybrid_bundle).head(24))
    bodies = [products[start : start + 2] for start in range(0, 24, 2)]

    responses = asyncio.run(post_concurrently(create_app(counting, micro_batch_wait_ms=50), bodies))

    assert [response.status_code for response in responses] == [200] * 12
    assert len(calls) < len(bodies) and sum(calls) == 24
    for body, response in zip(bodies, responses):
        alone = hybrid_bundle.score(pd.DataFrame(body))
        assert [item["label"] for item in response.json()] == alone["predicted"].tolist()
        assert [item["top"][0]["probability"] for item in response.json()] == pytest.approx(alone["top1_probability"].tolist(), abs=2e-4)
