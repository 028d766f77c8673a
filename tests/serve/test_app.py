"""The online service: request validation, micro-batching, cancellation and shutdown, real servers over a fake and a trained bundle."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devtools.fake_bundle import MANIFEST, FakeBundle, fake_bundle, product
from devtools.processes import background, free_port, run, tool_env, wait_until_healthy
from devtools.scratch_repo import write_paths
from prodcat.cli.predict import predict as batch_predict
from prodcat.data.catalog import read_catalog
from prodcat.inference.batch import read_chunks
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.predictor import Predictions
from prodcat.serve import ServiceSettings, create_app
from prodcat.serve.schema import served_columns

ROOT = Path(__file__).resolve().parents[2]  # servers run from here: this checkout's prodcat is the one served
DEFAULT_CATALOG = ROOT / "data/default/catalog.csv"


def catalog_bundle() -> FakeBundle:
    """A fake bundle that reads the default catalog's columns, as params.yaml names them."""
    dataset = {
        "id_column": "Uniq Id",
        "category_column": "Category",
        "text_columns": ["Product Name", "About Product", "Product Specification", "Technical Details"],
        "price_column": "Selling Price",
        "categorical_columns": ["Model Number", "Is Amazon Seller"],
    }
    return fake_bundle(manifest={**MANIFEST, "inference": {"dataset": dataset}})


@pytest.fixture()
def client() -> TestClient:
    with TestClient(create_app(fake_bundle(), ServiceSettings(max_batch=4))) as client:
        yield client


def test_predict_answers_label_and_top3_per_product_in_order(client: TestClient) -> None:
    response = client.post("/predict", json=[product(0, "Chess"), product(1, "Kite")])  # the fake: 5 letters -> Toys, 4 -> Games
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": "p0",
            "label": "Toys",
            "path": ["Toys"],
            "level_probabilities": [0.6],
            "top": [{"label": "Toys", "probability": 0.6}, {"label": "Books", "probability": 0.3}, {"label": "Games", "probability": 0.1}],
        },
        {
            "id": "p1",
            "label": "Games",
            "path": ["Games"],
            "level_probabilities": [0.6],
            "top": [{"label": "Games", "probability": 0.6}, {"label": "Toys", "probability": 0.3}, {"label": "Books", "probability": 0.1}],
        },
    ]


def test_a_path_label_is_answered_with_its_levels_and_each_level_probability() -> None:
    """A level's probability sums the classes under it: "B | x" and "A | x" share a leaf name, not a parent."""
    bundle = fake_bundle(manifest={**MANIFEST, "labels": ["A | x", "A | y", "B | x"]})
    with TestClient(create_app(bundle)) as client:  # the fake: 3 letters -> A | x, 4 -> A | y, 5 -> B | x
        response = client.post("/predict", json=[product(0, "Kite"), product(1, "Chess"), product(2, "Box")])
    assert response.status_code == 200
    assert [(answer["label"], answer["path"], answer["level_probabilities"]) for answer in response.json()] == [
        ("A | y", ["A", "y"], [0.7, 0.6]),  # A | y 0.6 + A | x 0.1
        ("B | x", ["B", "x"], [0.6, 0.6]),  # A | x (0.3) is not under B
        ("A | x", ["A", "x"], [0.9, 0.6]),
    ]
    assert response.json()[0]["top"] == [
        {"label": "A | y", "probability": 0.6},
        {"label": "B | x", "probability": 0.3},
        {"label": "A | x", "probability": 0.1},
    ]


def test_a_product_without_an_id_is_answered_with_a_null_id(client: TestClient) -> None:
    """The id is optional: echoed when given, null when absent, null or blank; the answer is the product's own either way."""
    body = [
        {"Product Name": "Chess"},
        {"Uniq Id": None, "Product Name": "Kite"},
        {"Uniq Id": "", "Product Name": "Kite"},
        product(3, "Chess"),
    ]
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    assert [(answer["id"], answer["label"], answer["top"][0]["probability"]) for answer in response.json()] == [
        (None, "Toys", 0.6),
        (None, "Games", 0.6),
        (None, "Games", 0.6),
        ("p3", "Toys", 0.6),
    ]
    assert response.json()[0] == {**response.json()[3], "id": None}
    (raw,) = client.app.state.service.bundle.calls  # Kite sent twice is scored once
    assert raw["Product Name"].tolist() == ["Chess", "Kite", "Chess"] and raw["Uniq Id"].isna().tolist() == [True, True, False]


def test_products_reach_the_bundle_as_catalog_rows(client: TestClient) -> None:
    """Blanks and absent columns are missing, as read_catalog reads a CSV; a numeric price becomes its text; other keys are dropped."""
    body = [{"Uniq Id": "a", "Product Name": "Kite", "About Product": "", "Selling Price": 12.5, "Category": "Toys | Kites"}]
    assert client.post("/predict", json=body).status_code == 200
    (raw,) = client.app.state.service.bundle.calls
    assert raw.to_dict("records") == [
        {"Uniq Id": "a", "Product Name": "Kite", "About Product": None, "Selling Price": "12.5", "Is Amazon Seller": None}
    ]


def post_as_pandas_clients_do(client: TestClient, body: object) -> httpx.Response:
    """POST `body` as `json.dumps` writes it by default: NaN and Infinity as bare words, other characters escaped."""
    return client.post("/predict", content=json.dumps(body).encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (1, "1"),  # an integer column
        (12.0, "12"),  # an integer column with blanks: pandas reads it as floats
        (12.5, "12.5"),
        (-0.25, "-0.25"),
        (True, "True"),  # a column of True and False cells
        (False, "False"),
        (math.inf, "inf"),  # an "inf" cell
        (-math.inf, "-inf"),
        (math.nan, None),  # a blank cell
        (None, None),
        ("", None),
        ("  ", "  "),
        ("Y", "Y"),
    ],
)
def test_a_json_value_reaches_the_bundle_as_batch_prediction_reads_its_csv_cell(
    client: TestClient, value: object, read: str | None
) -> None:
    """What `pd.read_csv(...).to_dict("records")` makes of a cell is read back as read_chunks reads the cell itself (text; only "" missing)."""
    body = [{"Uniq Id": value if read else 1, "Product Name": "Kite", "Selling Price": value, "Is Amazon Seller": value}]
    response = post_as_pandas_clients_do(client, body)
    assert response.status_code == 200, response.text
    (raw,) = client.app.state.service.bundle.calls
    assert as_json(raw) == [
        {"Uniq Id": read or "1", "Product Name": "Kite", "About Product": None, "Selling Price": read, "Is Amazon Seller": read}
    ]
    assert response.json()[0]["id"] == (read or "1")


def test_the_openapi_schema_shows_the_json_values_a_field_takes(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Product"]
    scalars = [{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
    assert schema["properties"]["Uniq Id"] == {"anyOf": scalars, "title": "Uniq Id"}
    assert schema["properties"]["Selling Price"] == {"anyOf": scalars, "title": "Selling Price"}
    assert "required" not in schema  # the id too may be left out


MIXED_CSV = """Uniq Id,Product Name,About Product,Product Specification,Technical Details,Selling Price,Model Number,Is Amazon Seller,Category
1,Kite,,,,12.5,12,True,Toys | Kites
2,Chess,A wooden set,,,,,False,
3,,Wooden puzzle,,,inf,7,,Toys
"""


@pytest.mark.parametrize("catalog", ["mixed", "default"])
def test_rows_pandas_reads_from_a_csv_reach_the_bundle_as_batch_prediction_reads_them(tmp_path: Path, catalog: str) -> None:
    """The rows of `pd.read_csv(catalog).where(notna, None).to_dict("records")` (NaN kept in float and text columns,
    ints, floats and booleans where cells look like them) are the frame that batch prediction scores for the same CSV."""
    path = DEFAULT_CATALOG if catalog == "default" else tmp_path / "mixed.csv"
    if catalog == "mixed":
        path.write_text(MIXED_CSV)
    bundle = catalog_bundle()
    rows = pd.read_csv(path, nrows=40).where(lambda frame: frame.notna(), None).to_dict("records")
    with TestClient(create_app(bundle)) as client:
        response = post_as_pandas_clients_do(client, rows)
    assert response.status_code == 200, response.text
    batch = next(read_chunks(path, 40))[served_columns(bundle.dataset)]
    assert as_json(pd.concat(bundle.calls, ignore_index=True)) == as_json(batch)
    assert [answer["id"] for answer in response.json()] == batch[bundle.dataset.id_column].tolist()
    assert [answer["label"] for answer in response.json()] == bundle.score(batch).labels.tolist()


def strict_json(response: httpx.Response) -> object:
    """The body as strict JSON (UTF-8, no NaN or Infinity), or an error."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not strict JSON")

    return json.loads(response.content.decode("utf-8"), parse_constant=refuse)


def test_a_422_echoes_non_finite_long_or_non_unicode_input_as_a_short_summary(client: TestClient) -> None:
    """An input is echoed as sent only when it is short strict JSON: NaN or a lone surrogate made FastAPI's 422 a 500, a huge one floods it."""
    body = [
        {"Uniq Id": "a", "Product Name": [math.nan]},
        {"Uniq Id": "b", "Product Name": ["x" * 100_000]},
        {"Uniq Id": "c\udc80", "Product Name": "Kite"},
        {"Uniq Id": "d", "Product Name": "Kite", "Selling Price": [1]},
    ]
    response = post_as_pandas_clients_do(client, body)
    assert response.status_code == 422
    assert strict_json(response)["detail"] == [
        {"type": "string_type", "loc": ["body", 0, "Product Name"], "msg": "Input should be a valid string", "input": "[nan]"},
        {
            "type": "string_type",
            "loc": ["body", 1, "Product Name"],
            "msg": "Input should be a valid string",
            "input": "['xxxxxxxxxxxx...xxxxxxxxxxxxx']",
        },
        {
            "type": "value_error",
            "loc": ["body", 2, "Uniq Id"],
            "msg": "Value error, not valid Unicode: lone surrogate U+DC80 at index 1",
            "input": "'c\\udc80'",
            "ctx": {"error": "not valid Unicode: lone surrogate U+DC80 at index 1"},
        },
        {
            "type": "string_type",
            "loc": ["body", 3, "Selling Price"],
            "msg": "Input should be a valid string",
            "input": [1],
        },  # short strict JSON: as sent
    ]


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(),  # NaN, Infinity and -Infinity included
    st.text(st.characters(exclude_categories=()), max_size=20),  # lone surrogates included: JSON escapes them
    st.builds(lambda text, times: text * times, st.text(min_size=1, max_size=3), st.integers(1, 30_000)),
    st.sampled_from(["", " ", "Kite", "Y", "$12.99", "nan", "\u0000", "\u202e", "\U0001f600", "e\u0301"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12
)
FIELDS = [*served_columns(fake_bundle().dataset)[1:], "Category", "Brand Name"]  # the id aside
CATALOG_ROWS = st.fixed_dictionaries({"Uniq Id": JSON_SCALARS}, optional={column: JSON_SCALARS for column in FIELDS})
ANY_ROWS = st.fixed_dictionaries({}, optional={column: JSON_VALUES for column in ["Uniq Id", *FIELDS]})
BODIES = st.one_of(st.lists(CATALOG_ROWS, min_size=1, max_size=4), st.lists(ANY_ROWS | JSON_VALUES, max_size=6), JSON_VALUES)


@pytest.fixture(scope="module")
def fuzzed_client() -> TestClient:
    with TestClient(create_app(fake_bundle(), ServiceSettings(max_batch=4)), raise_server_exceptions=False) as client:
        yield client


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=BODIES)
def test_no_payload_gets_a_server_error_and_every_answer_is_strict_json(fuzzed_client: TestClient, body: object) -> None:
    response = post_as_pandas_clients_do(fuzzed_client, body)
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.text[:2000]
    answer = strict_json(response)
    if response.status_code == 200:  # one prediction per product, in order; an id sent as text comes back as sent, none as null
        assert len(answer) == len(body)
        for prediction, product in zip(answer, body, strict=True):
            if isinstance(product.get("Uniq Id"), str):
                assert prediction["id"] == (product["Uniq Id"] or None)
            elif product.get("Uniq Id") is None:
                assert prediction["id"] is None
    assert fuzzed_client.get("/health").json() == {"status": "ok", "variant": "fake"}


UNPARSEABLE = {"detail": "There was an error parsing the body"}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "answer"),
    [
        (b"[" * 100_000, "application/json", 400, UNPARSEABLE),  # deeper than the parser recurses
        (
            b'[{"Uniq Id": ' + b"9" * 5000 + b', "Product Name": "Kite"}]',
            "application/json",
            400,
            UNPARSEABLE,
        ),  # more digits than Python reads
        (b'[{"Uniq Id": "a", "Product Name": "\xff"}]', "application/json", 400, UNPARSEABLE),  # not UTF-8
        (
            b"NaN",
            "application/json",
            422,
            {"detail": [{"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list", "input": "nan"}]},
        ),
        (
            b"Kite\xff",
            "text/plain",
            422,
            {"detail": [{"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list", "input": "b'Kite\\xff'"}]},
        ),
    ],
)
def test_an_unreadable_body_is_a_client_error_in_strict_json(
    client: TestClient, content: bytes, content_type: str, status: int, answer: dict
) -> None:
    response = client.post("/predict", content=content, headers={"content-type": content_type})
    assert response.status_code == status
    assert strict_json(response) == answer


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([{"Uniq Id": "a", "Product Name": ["Kite"]}], ["body", 0, "Product Name"], "Input should be a valid string"),
        (
            [{"Uniq Id": "a", "Product Name": "Kite", "Is Amazon Seller": {"seller": "Y"}}],
            ["body", 0, "Is Amazon Seller"],
            "Input should be a valid string",
        ),
        ([{"Uniq Id": "a", "Product Name": "Kite", "Selling Price": [1]}], ["body", 0, "Selling Price"], "Input should be a valid string"),
        (
            [{"Uniq Id": "a", "Product Name": "  ", "About Product": None}],
            ["body", 0],
            "at least one of the text fields Product Name, About Product",
        ),
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
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:

        async def post(index: int, body: list[dict]) -> httpx.Response:
            await asyncio.sleep(index * spacing)
            return await client.post("/predict", json=body)

        return await asyncio.gather(*(post(index, body) for index, body in enumerate(bodies)))


def test_concurrent_requests_share_one_score_call_and_get_their_own_rows() -> None:
    bundle = fake_bundle(seconds=0.05)
    bodies = [[product(3 * request + item) for item in range(request % 3 + 1)] for request in range(12)]  # 1 to 3 products each
    responses = asyncio.run(post_concurrently(create_app(bundle, ServiceSettings(micro_batch_wait_ms=20)), bodies))

    assert [response.status_code for response in responses] == [200] * 12
    assert len(bundle.calls) < 4 and sum(len(raw) for raw in bundle.calls) == sum(len(body) for body in bodies)
    alone = fake_bundle()
    for body, response in zip(bodies, responses, strict=True):  # each request gets exactly what scoring it alone gives
        expected = alone.score(pd.DataFrame(body))
        assert [item["id"] for item in response.json()] == [row["Uniq Id"] for row in body]
        assert [item["label"] for item in response.json()] == expected.labels.tolist()


def test_requests_within_the_wait_share_a_call_even_when_scoring_is_instant() -> None:
    bundle = fake_bundle()
    bodies = [[product(index)] for index in range(5)]
    responses = asyncio.run(post_concurrently(create_app(bundle, ServiceSettings(micro_batch_wait_ms=500)), bodies, spacing=0.02))
    assert all(response.status_code == 200 for response in responses)
    assert [len(raw) for raw in bundle.calls] == [5]


def test_a_batch_never_exceeds_the_rows_limit() -> None:
    bundle = fake_bundle(seconds=0.02)
    bodies = [[product(2 * request), product(2 * request + 1)] for request in range(6)]
    responses = asyncio.run(post_concurrently(create_app(bundle, ServiceSettings(micro_batch_wait_ms=20, micro_batch_rows=5)), bodies))
    assert all(response.status_code == 200 for response in responses)
    assert [len(raw) for raw in bundle.calls] == [4, 4, 4]  # two requests of 2 fit in 5 rows, a third does not


def test_a_failing_score_fails_only_its_batch_and_the_service_goes_on() -> None:
    @dataclass(frozen=True)
    class Flaky(FakeBundle):
        def score(self, raw: pd.DataFrame, top_k: int = 3) -> Predictions:
            if len(self.calls) == 0:
                self.calls.append(raw)
                raise RuntimeError("encoder crashed")
            return super().score(raw, top_k)

    with TestClient(create_app(Flaky(Path("fake"), MANIFEST, None)), raise_server_exceptions=False) as client:
        assert client.post("/predict", json=[product(0)]).status_code == 500
        assert client.post("/predict", json=[product(0)]).status_code == 200


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def answered_alone(body: list[dict]) -> list[tuple]:
    """(id, label, top labels and probabilities) of each product, from `Bundle.score` on the request's rows alone."""
    scored = fake_bundle().score(pd.DataFrame(body)).to_frame()
    return [
        (row["id"], row["predicted"], [(row[f"top{rank}_category"], row[f"top{rank}_probability"]) for rank in (1, 2, 3)])
        for row in scored.to_dict("records")
    ]


def as_answered(response: httpx.Response) -> list[tuple]:
    assert response.status_code == 200, response.text
    return [(item["id"], item["label"], [(top["label"], top["probability"]) for top in item["top"]]) for item in response.json()]


def test_requests_cancelled_mid_batch_or_while_queued_never_shift_the_answers_of_others() -> None:
    """Two requests are cancelled while their rows are being scored, one while it waits for the next batch: every
    other request gets, by value, what `Bundle.score` gives its rows alone; the one cancelled while queued is not scored."""
    bundle = fake_bundle(seconds=0.3)
    app = create_app(bundle, ServiceSettings(micro_batch_wait_ms=100, cache_size=0))
    first = [[product(3 * request + item) for item in range(request % 3 + 1)] for request in range(6)]  # 1 to 3 products each
    second = [[product(30 + request)] for request in range(3)]

    async def scenario() -> tuple[list, list]:
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
            batch = [asyncio.create_task(client.post("/predict", json=body)) for body in first]
            await until(lambda: len(bundle.calls) == 1)  # the six are being scored together
            batch[1].cancel()
            batch[4].cancel()
            queued = [asyncio.create_task(client.post("/predict", json=body)) for body in second]
            await until(lambda: app.state.service.batcher._queue.qsize() == 3)
            queued[1].cancel()
            done = await asyncio.gather(*batch, *queued, return_exceptions=True)
        return done[:6], done[6:]

    batch, queued = asyncio.run(scenario())
    assert [len(raw) for raw in bundle.calls] == [12, 2]  # the first six requests' rows; the next batch without the cancelled one
    # p30 and p32, in the order their requests reached the queue: concurrent requests pass the middleware in any order
    assert sorted(bundle.calls[1]["Uniq Id"]) == ["p30", "p32"]
    for index, (body, response) in enumerate(zip(first + second, batch + queued, strict=True)):
        if index in {1, 4, 7}:
            assert isinstance(response, asyncio.CancelledError)
        else:
            assert as_answered(response) == answered_alone(body)


def test_stopping_answers_the_queued_requests_and_refuses_new_ones_with_503() -> None:
    """The lifespan's end (uvicorn's shutdown, after SIGTERM) drains the micro-batcher: what it holds is scored, not failed."""
    bundle = fake_bundle(seconds=0.3)
    app = create_app(bundle, ServiceSettings(cache_size=0))
    bodies = [[product(index)] for index in range(3)]

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as client:
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            scoring = asyncio.create_task(client.post("/predict", json=bodies[0]))
            await until(lambda: len(bundle.calls) == 1)
            queued = [asyncio.create_task(client.post("/predict", json=body)) for body in bodies[1:]]
            await until(lambda: app.state.service.batcher._queue.qsize() == 2)
            stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
            await asyncio.sleep(0.05)
            late = await client.post("/predict", json=[product(9)])
            await stopping
            return await asyncio.gather(scoring, *queued), late

    answered, late = asyncio.run(scenario())
    assert [as_answered(response) for response in answered] == [answered_alone(body) for body in bodies]
    assert [raw["Uniq Id"].tolist() for raw in bundle.calls] == [["p0"], ["p1", "p2"]]
    assert late.status_code == 503
    assert late.json() == {"detail": "the service is shutting down: retry on another instance"}


def test_model_returns_the_manifest_as_written_with_its_scoring_path() -> None:
    manifest = {**MANIFEST, "scoring": {"kind": "cascade", "steps": [{"variant": "sparse", "accept_at": 0.9}, {"variant": "fusion"}]}}
    with TestClient(create_app(fake_bundle(manifest=manifest))) as client:
        assert client.get("/model").json() == manifest


# A server over the fake bundle, as `prodcat serve` runs one (`prodcat.serve.run`), each call 2 s; it appends
# the ids of each scoring call to argv[2] as the call starts.
FAKE_SERVER = """
import sys
from dataclasses import dataclass
from devtools.fake_bundle import FakeBundle, fake_bundle
from prodcat.serve import ServiceSettings, create_app, run

@dataclass(frozen=True)
class Telling(FakeBundle):
    def score(self, raw, top_k=3):
        with open(sys.argv[2], "a") as calls:
            calls.write(" ".join(raw["Uniq Id"]) + "\\n")
        return super().score(raw, top_k)

bundle = fake_bundle()
run(create_app(Telling(bundle.folder, bundle.manifest, None, seconds=2.0), ServiceSettings(max_batch=4)), "127.0.0.1", int(sys.argv[1]), 20)
"""


@dataclass
class FakeServer:
    url: str
    process: subprocess.Popen
    log: Path
    calls: Path  # the ids of each scoring call, a line per call

    def scored(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def wait_for_call(self, number: int, pending: list[Future]) -> None:
        """Until the server has started its `number`-th scoring call (while `pending` requests are still unanswered)."""
        deadline = time.monotonic() + 30
        while len(self.scored()) < number:
            assert time.monotonic() < deadline and not any(future.done() for future in pending), self.log.read_text()
            time.sleep(0.01)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> FakeServer:
    """One real server for this module's tests; the SIGTERM test, last, stops it."""
    folder, port = tmp_path_factory.mktemp("fake-server"), free_port()
    command = [sys.executable, "-c", FAKE_SERVER, str(port), str(folder / "calls")]
    with background(command, ROOT, tool_env(), folder / "serve.log") as process:
        server = FakeServer(f"http://127.0.0.1:{port}", process, folder / "serve.log", folder / "calls")
        wait_until_healthy(server.url, process, server.log)
        yield server


def test_a_client_that_disconnects_while_queued_leaves_the_batch_and_shifts_nobody(fake_server: FakeServer) -> None:
    """The server does not cancel a request whose client left; the service notices the disconnect itself."""
    before = len(fake_server.scored())
    with ThreadPoolExecutor(3) as pool:
        scoring = pool.submit(httpx.post, f"{fake_server.url}/predict", json=[product(0)], timeout=30)
        fake_server.wait_for_call(before + 1, [scoring])  # p0 is scored for 2 s: what comes now waits
        leaving = pool.submit(httpx.post, f"{fake_server.url}/predict", json=[product(1)], timeout=0.5)  # gives up, disconnects
        staying = pool.submit(httpx.post, f"{fake_server.url}/predict", json=[product(2), product(3)], timeout=30)
        with pytest.raises(httpx.TimeoutException):
            leaving.result()
        answered = [scoring.result(), staying.result()]
    assert fake_server.scored()[before:] == ["p0", "p2 p3"]  # p1 never scored
    assert [as_answered(response) for response in answered] == [answered_alone([product(0)]), answered_alone([product(2), product(3)])]
    assert 'prodcat_requests_total{endpoint="/predict",status="499"} 1.0' in httpx.get(f"{fake_server.url}/metrics").text


def test_on_sigterm_a_real_server_finishes_in_flight_requests_and_refuses_new_connections(fake_server: FakeServer) -> None:
    bodies = [[product(index)] for index in range(10, 13)]  # never posted before: none is in the cache
    before = len(fake_server.scored())
    with ThreadPoolExecutor(len(bodies)) as pool:
        posted = [pool.submit(httpx.post, f"{fake_server.url}/predict", json=body, timeout=30) for body in bodies]
        fake_server.wait_for_call(before + 1, posted)  # the first request is being scored (2 s)
        while 'prodcat_requests_in_progress{endpoint="/predict"} 3.0' not in httpx.get(f"{fake_server.url}/metrics").text:
            assert not any(future.done() for future in posted)  # all three received before the signal
        fake_server.process.send_signal(signal.SIGTERM)
        refused, deadline = False, time.monotonic() + 10
        while not refused and time.monotonic() < deadline:
            try:
                httpx.get(f"{fake_server.url}/health", timeout=1)
            except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
                # refused outright, or (racing the socket's close) accepted by the kernel then reset with no answer
                refused = True
        still_in_flight = not all(future.done() for future in posted)  # the last two wait for the first's call, then take 2 s
        answered = [future.result() for future in posted]
    assert fake_server.process.wait(timeout=30) in {0, -signal.SIGTERM}  # uvicorn re-raises the signal once it has shut down
    assert refused and still_in_flight
    assert [as_answered(response) for response in answered] == [answered_alone(body) for body in bodies]
    lines = fake_server.log.read_text().splitlines()
    after_sigterm = lines[next(index for index, line in enumerate(lines) if "Shutting down" in line) :]
    assert sum('"POST /predict HTTP/1.1" 200' in line for line in after_sigterm) == 3  # all three answered after the signal


# --- over the bundle that `dvc repro` built on the small catalog -------------------------------------------


def serve_command(bundle: Path, port: int, max_batch: int) -> list[str]:
    """`prodcat serve` in a process of its own, as a user starts it."""
    return [sys.executable, "-m", "prodcat", "serve", "--bundle", str(bundle), "--port", str(port), "--max-batch", str(max_batch)]


def test_serve_without_a_bundle_fails_fast_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_command(tmp_path / "nowhere", free_port(), 256),
        cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"prodcat serve: error: model bundle not found: {tmp_path / 'nowhere'}" in result.stderr


def split_rows(project: Path, bundle: Bundle, split: str = "test") -> pd.DataFrame:
    """The raw catalog rows of a split, as read_catalog reads them, in the columns the service takes."""
    catalog = read_catalog(yaml.safe_load((project / "params.yaml").read_text())["catalog"]["path"])
    ids = pd.read_parquet(project / f"data/processed/{split}.parquet", columns=["id"])["id"]
    return catalog[catalog[bundle.dataset.id_column].isin(ids)][served_columns(bundle.dataset)].reset_index(drop=True)


def as_json(rows: pd.DataFrame) -> list[dict]:
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


@pytest.mark.slow
def test_a_real_server_classifies_test_products_as_batch_prediction_does(trained_project: Path, tmp_path: Path) -> None:
    folder = trained_project / "models/bundle"
    bundle = load_bundle(folder)
    rows = split_rows(trained_project, bundle)
    expected = bundle.score(rows).to_frame()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = serve_command(folder, port, 32)
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
    assert [[top["label"] for top in answer["top"]] for answer in answers] == expected[
        ["top1_category", "top2_category", "top3_category"]
    ].values.tolist()
    assert [answer["top"][0]["probability"] for answer in answers] == pytest.approx(expected["top1_probability"].tolist(), abs=2e-4)


@pytest.mark.slow
def test_rows_pandas_reads_from_the_default_catalog_get_the_answers_of_batch_prediction(trained_project: Path, tmp_path: Path) -> None:
    """The issue's client: `pd.read_csv(catalog).where(notna, None).to_dict("records")` posted with NaN for blank cells."""
    folder = trained_project / "models/bundle"
    catalog, output = tmp_path / "catalog.csv", tmp_path / "predictions.parquet"
    read_catalog(DEFAULT_CATALOG).head(40).to_csv(catalog, index=False)
    batch_predict(bundle=folder, source=catalog, output=output)
    expected = pd.read_parquet(output)
    rows = pd.read_csv(catalog).where(lambda frame: frame.notna(), None).to_dict("records")
    assert any(isinstance(value, float) and math.isnan(value) for row in rows for value in row.values())

    with TestClient(create_app(folder)) as client:
        response = post_as_pandas_clients_do(client, rows)

    assert response.status_code == 200, response.text
    answers = response.json()
    assert [answer["id"] for answer in answers] == expected["id"].tolist() == read_catalog(catalog)["Uniq Id"].tolist()
    assert [answer["label"] for answer in answers] == expected["predicted"].tolist()
    assert [[top["label"] for top in answer["top"]] for answer in answers] == expected[
        ["top1_category", "top2_category", "top3_category"]
    ].values.tolist()
    assert [answer["top"][0]["probability"] for answer in answers] == pytest.approx(expected["top1_probability"].tolist(), abs=2e-4)


@pytest.fixture(scope="module")
def hybrid_bundle(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A bundle of the hybrid variant (an encoder and the sparse model) from the trained project, whichever variant won."""
    folder = tmp_path_factory.mktemp("hybrid")
    choice = json.loads((trained_project / "models/champion.json").read_text())
    (folder / "choice.json").write_text(json.dumps({**choice, "champion": "hybrid"}))
    paths = write_paths(folder, root=trained_project, champion=folder / "choice.json", bundle=folder / "bundle")
    run([sys.executable, "-m", "stages.bundle", "--paths", str(paths)], trained_project)
    return load_bundle(folder / "bundle")


@pytest.mark.slow
def test_concurrent_requests_share_one_encoder_call_with_the_answers_of_single_requests(
    trained_project: Path, hybrid_bundle: Bundle
) -> None:
    calls: list[int] = []

    def counted(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
        return lambda texts: calls.append(len(texts)) or encode(texts)

    (encoder,) = hybrid_bundle.predictor.encoders
    counting = replace(
        hybrid_bundle, predictor=replace(hybrid_bundle.predictor, encoders={encoder: counted(hybrid_bundle.predictor.encoders[encoder])})
    )
    products = as_json(split_rows(trained_project, hybrid_bundle).head(24))
    bodies = [products[start : start + 2] for start in range(0, 24, 2)]

    responses = asyncio.run(post_concurrently(create_app(counting, ServiceSettings(micro_batch_wait_ms=50)), bodies))

    assert [response.status_code for response in responses] == [200] * 12
    assert len(calls) < len(bodies) and sum(calls) == 24
    for body, response in zip(bodies, responses, strict=True):
        alone = hybrid_bundle.score(pd.DataFrame(body)).to_frame()
        assert [item["label"] for item in response.json()] == alone["predicted"].tolist()
        assert [item["top"][0]["probability"] for item in response.json()] == pytest.approx(alone["top1_probability"].tolist(), abs=2e-4)
