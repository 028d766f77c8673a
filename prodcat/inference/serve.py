"""The online service: a FastAPI app over the model bundle, with concurrent requests micro-batched.

    python -m prodcat.inference.serve --bundle models/bundle        # http://127.0.0.1:8000 (PORT, HOST to change)

`POST /predict` takes a JSON list of products keyed by the catalog's own column names (the bundle's
manifest names them) and answers, per product, the label, its path of levels with the probability of
each level, and the top 3 with probabilities. A product is read as batch prediction reads its CSV row:
rows that pandas posts (NaN for blanks, numbers and booleans where cells look like them) get the
answers the same rows get in batch.
Requests that arrive within a few milliseconds of each other are scored together: one
`Bundle.score` call (one encoder pass) in a worker thread, so the event loop keeps accepting.
A product answered before is answered from a bounded cache keyed by a hash of its columns.

Fit to face more than localhost: a body over the limit is refused before it is parsed, an API key
(PRODCAT_API_KEY) guards every path but /health and the docs, /metrics speaks Prometheus, and SIGTERM
lets in-flight requests finish while new connections are refused (serve_access.py, serve_metrics.py,
serve_cache.py).

No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at runtime,
and the product model is built from the manifest inside `create_app`.
"""

import argparse
import asyncio
import json
import math
import os
import reprlib
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pandas as pd
import uvicorn
from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, create_model, model_validator
from pydantic_core import PydanticCustomError

from prodcat.core.cli import cli_errors
from prodcat.core.errors import InputError
from prodcat.core.params import DatasetParams
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.predictor import label_path
from prodcat.inference.serve_access import API_KEY_ENV, PRODUCT_BYTES, ApiKey, BodyLimit, default_body_limit
from prodcat.inference.serve_cache import AnswerCache
from prodcat.inference.serve_metrics import CLIENT_GONE, RequestMetrics, ServiceMetrics

T = TypeVar("T")
TOP_K = 3
MAX_BATCH = 256  # products in one request; more is a 413
WAIT_MS = 2.0  # how long the first waiting request waits for others to share its scoring call
BATCH_ROWS = 512  # products in one scoring call
CACHE_SIZE = 10_000  # answers kept by product text hash (about 1 kB each)
SHUTDOWN_SECONDS = 30.0  # on SIGTERM, how long in-flight and queued requests may still take
BODY_LIMIT_ENV, CACHE_SIZE_ENV = "PRODCAT_MAX_BODY_BYTES", "PRODCAT_CACHE_SIZE"
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})  # answered without the API key
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ECHO_BYTES = 256  # a 422 echoes an offending input this long at most as sent; a longer one is summarized


def served_columns(dataset: DatasetParams) -> list[str]:
    """The catalog columns a product carries: every column the model reads, the label column aside."""
    return [column for column in dataset.required_columns if column != dataset.category_column]


def catalog_cell(value: object) -> object:
    """A JSON value as batch prediction reads the CSV cell it came from: text, and None for "", null or NaN.

    read_chunks reads every cell as its text, only "" missing. pandas clients post `read_csv(...).to_dict("records")`:
    NaN for a blank, and numbers or booleans where the cells looked like them, floats for an integer column with
    blanks ("12" posted as 12.0). Lists and objects are left for the string check to refuse.
    """
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int):  # booleans too: "True", "False"
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)  # repr: the shortest text that reads back as the float
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:  # an escaped lone surrogate: no UTF-8 catalog holds one, nor can the answer
            raise ValueError(f"not valid Unicode: lone surrogate U+{ord(value[error.start]):04X} at index {error.start}") from None
    return value


def catalog_id(value: object) -> object:
    """`catalog_cell` for the id, which is required: a blank id is a missing one."""
    if (cell := catalog_cell(value)) is None:
        raise PydanticCustomError("missing", "Field required")
    return cell


# The OpenAPI schema shows what a client may send (json_schema_input_type), not the text it becomes.
CatalogCell = Annotated[StrictStr | None, BeforeValidator(catalog_cell, json_schema_input_type=str | int | float | bool | None)]
CatalogId = Annotated[StrictStr, BeforeValidator(catalog_id, json_schema_input_type=str | int | float | bool)]


def product_model(dataset: DatasetParams) -> type[BaseModel]:
    """One product as pydantic validates it: the id is required, any other column may be blank, as in the catalog.

    Each value becomes the string batch prediction reads from the product's CSV row (`catalog_cell`); other
    keys are ignored, so a whole catalog row can be posted. At least one text column must say something.
    """

    def column_field(column: str) -> tuple[Any, Any]:
        if column == dataset.id_column:
            return CatalogId, Field(alias=column)
        return CatalogCell, Field(None, alias=column)

    def at_least_one_text(product: BaseModel) -> BaseModel:
        row = product.model_dump(by_alias=True)
        if not any((row[column] or "").strip() for column in dataset.text_columns):
            raise ValueError(f"at least one of the text fields {', '.join(dataset.text_columns)} must be non-blank")
        return product

    return create_model(
        "Product",
        __config__=ConfigDict(extra="ignore"),
        __validators__={"at_least_one_text": model_validator(mode="after")(at_least_one_text)},
        **{f"column_{index}": column_field(column) for index, column in enumerate(served_columns(dataset))},
    )


def echoed(value: object) -> object:
    """An offending input as a 422 shows it: as sent when it is short strict JSON, else a short Python summary.

    FastAPI echoes inputs as sent; NaN or Infinity (which the JSON parser takes), a lone surrogate or a raw
    body cannot be encoded in the answer, which turned the 422 into a 500.
    """
    with suppress(TypeError, ValueError, RecursionError):
        if len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode()) <= ECHO_BYTES:
            return value
    return reprlib.repr(value)


def client_problem(problem: dict) -> dict:
    """A validation error as the 422 lists it: input and context `echoed`, an error in the context as its message."""
    safe = {**problem, "input": echoed(problem.get("input"))}
    if "ctx" in problem:
        safe["ctx"] = {key: echoed(str(value) if isinstance(value, Exception) else value) for key, value in problem["ctx"].items()}
    return safe


class Candidate(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    id: str
    label: str
    path: list[str]  # the label's levels, top first: ["Dairy Eggs", "Yogurt"]
    level_probabilities: list[float]  # per level of `path`: the summed probability of every class under it
    top: list[Candidate]


def prediction(row: dict, ranks: range) -> Prediction:
    """One `Bundle.score` row as the API answers it: the path's levels with their probabilities (`level_<j>_probability`)."""
    path = label_path(row["predicted"])
    return Prediction(
        id=row["id"],
        label=row["predicted"],
        path=path,
        level_probabilities=[row[f"level_{level}_probability"] for level in range(len(path))],
        top=[Candidate(label=row[f"top{rank}_category"], probability=row[f"top{rank}_probability"]) for rank in ranks],
    )


def predictions(scored: pd.DataFrame) -> list[Prediction]:
    """`Bundle.score` rows as the API answers them."""
    ranks = range(1, 1 + sum(column.endswith("_category") for column in scored.columns))
    return [prediction(row, ranks) for row in scored.to_dict("records")]


@dataclass
class _Job:
    rows: list[dict]
    done: asyncio.Future


_STOP = object()  # queued by `MicroBatcher.stop` behind the last job: the worker ends after answering it


class ServiceClosing(RuntimeError):
    """The service is shutting down: a request arriving now is refused (503), never half-served."""


class ClientGone(Exception):
    """The client disconnected before its answer: nobody reads the response (counted as 499)."""


async def unless_client_leaves(receive: Callable[[], Awaitable[dict]], work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result; if the client disconnects first, `work` is cancelled (its rows leave the micro-batch) and ClientGone raised.

    Once the body is read, the next ASGI message of a request is its disconnect, so `receive` returns only
    when the client leaves. A server does not cancel a handler whose client left; this does.
    """
    working, leaving = asyncio.ensure_future(work), asyncio.ensure_future(receive())
    try:
        await asyncio.wait({working, leaving}, return_when=asyncio.FIRST_COMPLETED)
        if working.done():
            return working.result()
        raise ClientGone
    finally:
        leaving.cancel()
        working.cancel()  # a no-op once done; else the client left, or this request itself was cancelled


class MicroBatcher:
    """Scores the rows of requests arriving within `wait_ms` of each other (up to `max_rows`) in one `score` call.

    One worker task: while a batch is scored in a thread, the next requests queue up and become
    the next batch, so batches grow with the load and the event loop is never blocked. A request
    cancelled while it waits (its client went away) leaves the batch before scoring, or, once scored,
    its rows are skipped: every other request gets exactly its own rows back.
    """

    def __init__(self, score: Callable[[pd.DataFrame], pd.DataFrame], columns: list[str], max_rows: int, wait_ms: float) -> None:
        self._score, self._columns, self._max_rows, self._wait = score, columns, max_rows, wait_ms / 1000
        self._queue: asyncio.Queue = asyncio.Queue()  # a new one in `start`: a queue belongs to one event loop
        self._worker: asyncio.Task | None = None
        self._closing = False
        self._batch: list[_Job] = []  # taken from the queue, being collected or scored
        self._next: _Job | object | None = None  # taken from the queue, too big for the batch (or _STOP): first of the next one

    async def start(self) -> None:
        self._queue, self._closing = asyncio.Queue(), False
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self, timeout: float | None = None) -> None:
        """Refuse new requests, answer every queued one (for up to `timeout` seconds), then stop the worker.

        What is still waiting after `timeout` gets an error instead of hanging.
        """
        if self._worker is None:
            return
        self._closing = True
        self._queue.put_nowait(_STOP)
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._worker), timeout)
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._worker = None
        waiting = [*self._batch, self._next]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        self._fail([job for job in waiting if isinstance(job, _Job)], ServiceClosing("the service stopped before scoring this request"))
        self._batch, self._next = [], None

    async def score(self, rows: list[dict]) -> pd.DataFrame:
        """The scored rows of one request, in order (scored together with whatever else is waiting)."""
        if self._closing:
            raise ServiceClosing("the service is shutting down: retry on another instance")
        if self._worker is None:
            raise RuntimeError("the micro-batcher is not running (the app's lifespan starts it)")
        job = _Job(rows, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return await job.done

    async def _run(self) -> None:
        while (first := self._next or await self._queue.get()) is not _STOP:
            self._batch, self._next = [first], None
            await self._collect()
            await self._answer()
            self._batch = []

    async def _collect(self) -> None:
        """Add the waiting jobs that fit to the batch, waiting up to `wait` for more to arrive."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        rows = len(self._batch[0].rows)
        while rows < self._max_rows:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    return
            if job is _STOP or rows + len(job.rows) > self._max_rows:
                self._next = job
                return
            self._batch.append(job)
            rows += len(job.rows)

    async def _answer(self) -> None:
        """Score the batch's live requests in one call in a worker thread; each gets its own rows back."""
        jobs = [job for job in self._batch if not job.done.done()]  # a request cancelled while it waited is not scored
        if not jobs:
            return
        try:
            frame = pd.DataFrame([row for job in jobs for row in job.rows], columns=self._columns)
            scored = await asyncio.to_thread(self._score, frame)
        except Exception as error:  # a bug or a broken bundle: every request of the batch gets it
            self._fail(jobs, error)
            return
        start = 0
        for job in jobs:
            if not job.done.done():  # not a request cancelled while the batch was scored
                job.done.set_result(scored.iloc[start : start + len(job.rows)].reset_index(drop=True))
            start += len(job.rows)

    @staticmethod
    def _fail(jobs: list[_Job], error: BaseException) -> None:
        for job in jobs:
            if not job.done.done():
                job.done.set_exception(error)


@dataclass(frozen=True)
class ServiceSettings:
    """How the service takes requests: the CLI's options, and create_app's."""

    max_batch: int = MAX_BATCH  # products in one request; more is a 413
    max_body_bytes: int | None = None  # request body; more is a 413 before parsing (None: max_batch x PRODUCT_BYTES)
    micro_batch_wait_ms: float = WAIT_MS
    micro_batch_rows: int = BATCH_ROWS
    cache_size: int = CACHE_SIZE  # answers kept by product text hash; 0: no cache
    api_key: str | None = None  # every path but /health and the docs needs `Authorization: Bearer <api_key>`
    shutdown_seconds: float = SHUTDOWN_SECONDS  # on stop: how long queued requests may still be scored

    @property
    def body_limit(self) -> int:
        return self.max_body_bytes if self.max_body_bytes is not None else default_body_limit(self.max_batch)


def create_app(bundle: Bundle | Path | str, settings: ServiceSettings = ServiceSettings()) -> FastAPI:
    """The service over `bundle` (a loaded one, or its folder), taking requests as `settings` say."""
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    Product = product_model(bundle.dataset)
    columns = served_columns(bundle.dataset)
    metrics = ServiceMetrics(bundle.thresholds.low_confidence, cache=settings.cache_size > 0)
    batcher = MicroBatcher(
        metrics.timed(lambda raw: bundle.score(raw, top_k=TOP_K)), columns, settings.micro_batch_rows, settings.micro_batch_wait_ms
    )
    cache = AnswerCache[Prediction](columns[1:], settings.cache_size) if settings.cache_size > 0 else None  # the id aside

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop(settings.shutdown_seconds)

    app = FastAPI(title="prodcat", summary=f"Product categories from the {bundle.manifest['variant']} model bundle", lifespan=lifespan)
    app.state.bundle, app.state.batcher, app.state.metrics, app.state.cache = bundle, batcher, metrics, cache

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        """A batch over `max_batch` is 413 (too large), not 422 (malformed); other validation errors are 422 in strict JSON."""
        problems = error.errors()
        for problem in problems:
            if problem["type"] == "too_long" and tuple(problem["loc"]) == ("body",):
                detail = f"at most {settings.max_batch} products per request, got {problem['ctx']['actual_length']}: split the batch"
                return JSONResponse({"detail": detail}, status_code=413)
        return JSONResponse({"detail": [client_problem(problem) for problem in problems]}, status_code=422)

    @app.exception_handler(ClientGone)
    async def gone(request: Request, error: ClientGone) -> Response:
        return Response(status_code=CLIENT_GONE)

    @app.exception_handler(ServiceClosing)
    async def closing(request: Request, error: ServiceClosing) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"connection": "close"})

    async def answers(rows: list[dict]) -> list[Prediction]:
        """The predictions of `rows`, in order: from the cache where it holds them, the rest scored once each, then cached."""
        if cache is None:
            return predictions(await batcher.score(rows))
        keys = [cache.key(row) for row in rows]
        known = {key: answer for key in keys if (answer := cache.get(key)) is not None}
        missing = {key: row for key, row in zip(keys, rows, strict=True) if key not in known}  # a product sent twice is scored once
        metrics.cache_hits.inc(len(rows) - len(missing))
        metrics.cache_misses.inc(len(missing))
        if missing:
            scored = dict(zip(missing, predictions(await batcher.score(list(missing.values()))), strict=True))
            for key, answer in scored.items():
                cache.put(key, answer)
            known |= scored
        ids = [row[bundle.dataset.id_column] for row in rows]
        return [
            known[key] if known[key].id == id_ else known[key].model_copy(update={"id": id_}) for key, id_ in zip(keys, ids, strict=True)
        ]

    @app.post("/predict", response_model=list[Prediction])
    async def predict(
        request: Request, products: Annotated[list[Product], Body(min_length=1, max_length=settings.max_batch)]
    ) -> list[Prediction]:
        """The label, its path with the probability of each level, and the top 3 categories of each product, in order."""
        result = await unless_client_leaves(request.receive, answers([product.model_dump(by_alias=True) for product in products]))
        metrics.answered([answer.top[0].probability for answer in result])
        return result

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "variant": bundle.manifest["variant"]}

    @app.get("/model")
    async def model() -> dict:
        """The bundle's manifest as written: variant, labels, columns, scoring path, scores, versions."""
        return bundle.manifest

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, max_bytes=settings.body_limit)
    if settings.api_key:
        app.add_middleware(ApiKey, key=settings.api_key, open_paths=OPEN_PATHS)
    app.add_middleware(
        RequestMetrics, metrics=metrics, endpoints=frozenset(route.path for route in app.routes)
    )  # outermost: counts refusals too
    return app


def env_int(name: str) -> int | None:
    """An integer setting from the environment, None when unset; anything else is a one-line error."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{name}={value!r} is not an integer") from None


def run(app: FastAPI, host: str, port: int, shutdown_seconds: float) -> None:
    """Serve until SIGTERM or SIGINT: uvicorn then closes the listening socket (new connections are refused), lets
    in-flight requests finish for up to `shutdown_seconds`, then the lifespan drains the micro-batcher."""
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=shutdown_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="prodcat.inference.serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", default="models/bundle", help="the model bundle folder (default: models/bundle)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="default: $HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=os.environ.get("PORT", "8000"), help="default: $PORT or 8000")
    parser.add_argument("--max-batch", type=int, default=MAX_BATCH, help=f"most products in one request, 413 beyond (default: {MAX_BATCH})")
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"largest request body, 413 before it is parsed (default: ${BODY_LIMIT_ENV}, else --max-batch x {PRODUCT_BYTES})",
    )
    parser.add_argument(
        "--wait-ms", type=float, default=WAIT_MS, help=f"how long a request waits for others to share its encoder call (default: {WAIT_MS})"
    )
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help=f"most products in one encoder call (default: {BATCH_ROWS})")
    parser.add_argument(
        "--cache-size", type=int, help=f"answers kept by product text hash, 0 for none (default: ${CACHE_SIZE_ENV}, else {CACHE_SIZE})"
    )
    parser.add_argument(
        "--shutdown-seconds",
        type=float,
        default=SHUTDOWN_SECONDS,
        help=f"on SIGTERM, how long in-flight requests may take to finish (default: {SHUTDOWN_SECONDS})",
    )
    args = parser.parse_args(argv)
    with cli_errors("serve"):
        body_limit = args.max_body_bytes if args.max_body_bytes is not None else env_int(BODY_LIMIT_ENV)
        cache_size = args.cache_size if args.cache_size is not None else env_int(CACHE_SIZE_ENV)
        settings = ServiceSettings(
            max_batch=args.max_batch,
            max_body_bytes=body_limit,
            micro_batch_wait_ms=args.wait_ms,
            micro_batch_rows=args.batch_rows,
            cache_size=CACHE_SIZE if cache_size is None else cache_size,
            api_key=os.environ.get(API_KEY_ENV) or None,
            shutdown_seconds=args.shutdown_seconds,
        )
        if settings.body_limit < 1 or settings.cache_size < 0:
            raise InputError(
                f"the body limit must be positive and the cache size at least 0, got {settings.body_limit} and {settings.cache_size}"
            )
        app = create_app(args.bundle, settings)
    if settings.api_key is None and args.host not in LOOPBACK:
        print(
            f"serve: warning: listening on {args.host} without an API key: anyone who reaches it may call it (set {API_KEY_ENV})",
            file=sys.stderr,
        )
    run(app, args.host, args.port, settings.shutdown_seconds)


if __name__ == "__main__":
    main()
