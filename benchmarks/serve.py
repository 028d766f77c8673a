"""Load figures of the online service against batch prediction on the same products.

    python -m benchmarks.serve [--clients 8] [--requests 400] [--batch 1] [--distinct N] [--cache-size N]   (make bench-serve)

Starts `prodcat serve` (prodcat.serve.serve) on 127.0.0.1 (a free port) over the bundle, sends `--requests`
POST /predict requests of `--batch` products each from `--clients` concurrent clients, and prints
requests/s, products/s, p50/p99 latency and the errors (exit status 1 if there is any), then where the
time went, from the server's /metrics: scoring calls, their rows (micro-batch size) and seconds, and the
answer cache's hits. Then it stops the server and scores the same products in this process with one
`Bundle.score` call: the batch throughput, and the ratio of the two. Products: the test split's rows of
the catalog in params.yaml (`catalog.path`), repeated as needed (`--distinct N`: only the first N, so the
cache answers the repeats); the warm-up requests use other rows. Figures vary with the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from devtools.processes import background, free_port, tool_env, wait_until_healthy
from prodcat.core.cli import cli_errors
from prodcat.core.params import load_params
from prodcat.data.catalog import read_catalog
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.serve.schema import served_columns


def split_rows(bundle: Bundle, catalog: Path, processed: Path) -> list[dict]:
    """The products of the test split as the service takes them: catalog rows (all rows without a split)."""
    raw = read_catalog(catalog)
    if (processed / "test.parquet").is_file():
        raw = raw[raw[bundle.dataset.id_column].isin(pd.read_parquet(processed / "test.parquet", columns=["id"])["id"])]
    return raw[served_columns(bundle.dataset)].astype(object).where(raw.notna(), None).to_dict("records")


def cycled(rows: list[dict], count: int) -> list[dict]:
    return [rows[index % len(rows)] for index in range(count)]


def unlabelled_samples(metrics_text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if not sample.labels
    }


def server_figures(before: str, after: str) -> str:
    """Where the server's time went between two reads of its /metrics: scoring calls, their rows and seconds, cache hits."""
    old, new = unlabelled_samples(before), unlabelled_samples(after)
    delta = {name: new[name] - old.get(name, 0.0) for name in new}
    calls = delta["prodcat_score_seconds_count"]
    line = (
        f"server: {calls:.0f} scoring calls, {delta['prodcat_batch_rows_sum'] / max(calls, 1):.2f} rows and "
        f"{1000 * delta['prodcat_score_seconds_sum'] / max(calls, 1):.1f} ms per call"
    )
    if "prodcat_cache_hits_total" in delta:
        hits, misses = delta["prodcat_cache_hits_total"], delta["prodcat_cache_misses_total"]
        line += f"; cache hits {hits:.0f} of {hits + misses:.0f} products"
    return line


async def load(url: str, bodies: list[list[dict]], clients: int) -> tuple[list[float], int, float]:
    """Send every body once from `clients` concurrent clients: (latencies in s, errors, wall seconds)."""
    queue = list(reversed(bodies))
    latencies: list[float] = []
    errors = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/predict", json=body)
                ok = response.status_code == 200 and len(response.json()) == len(body)
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default="models/bundle")
    parser.add_argument("--params", default="params.yaml", help="for catalog.path, the source of the products")
    parser.add_argument("--processed", default="data/processed", help="where preprocess wrote test.parquet (its ids pick the rows)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--batch", type=int, default=1, help="products per request")
    parser.add_argument("--distinct", type=int, help="cycle through only this many products (default: every test product)")
    parser.add_argument("--cache-size", type=int, help="the server's --cache-size (default: its own)")
    args = parser.parse_args(argv)

    with cli_errors("bench-serve"):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the figures
        bundle = load_bundle(args.bundle)
        rows = split_rows(bundle, Path(load_params(args.params).catalog.path), Path(args.processed))
    warm_up = cycled(rows[::-1], args.clients * args.batch)  # the last rows: a cache never holds a measured product at the start
    products = cycled(rows[: args.distinct], args.requests * args.batch)
    bodies = [products[start : start + args.batch] for start in range(0, len(products), args.batch)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "serve.log"
        cache = [] if args.cache_size is None else ["--cache-size", str(args.cache_size)]
        command = [sys.executable, "-m", "prodcat", "serve", "--bundle", args.bundle, "--port", str(port), *cache]
        with background(command, Path.cwd(), tool_env(PRODCAT_API_KEY=""), log) as server:
            wait_until_healthy(url, server, log)
            asyncio.run(load(url, [[product] for product in warm_up], args.clients))  # warm-up: first calls load lazily
            before = httpx.get(f"{url}/metrics").text
            latencies, errors, seconds = asyncio.run(load(url, bodies, args.clients))
            after = httpx.get(f"{url}/metrics").text
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    online = len(products) / seconds
    print(
        f"serve: {len(bodies)} requests of {args.batch} product(s), {args.clients} clients, {bundle.manifest['variant']}: "
        f"{len(bodies) / seconds:.1f} requests/s, {online:.1f} products/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}"
    )

    print(server_figures(before, after))

    frame = pd.DataFrame(products)
    bundle.score(frame.head(args.clients))  # the same warm-up
    started = time.perf_counter()
    bundle.score(frame)
    batch = len(frame) / (time.perf_counter() - started)
    print(f"batch: {len(frame)} products in one Bundle.score call: {batch:.1f} products/s")
    print(f"online / batch throughput: {online / batch:.2f}")
    if errors:
        raise SystemExit(f"bench-serve: {errors} of {len(bodies)} requests failed")


if __name__ == "__main__":
    main()
