"""Load figures of the online service against batch prediction on the same products.

    python -m benchmarks.serve [--clients 8] [--requests 400] [--batch 1]      (make bench-serve)

Starts `python -m prodcat.inference.serve` on 127.0.0.1 (a free port) over the bundle, sends `--requests`
POST /predict requests of `--batch` products each from `--clients` concurrent clients, and prints
requests/s, products/s, p50/p99 latency and the errors (exit status 1 if there is any). Then it
stops the server and scores the same products in this process with one `Bundle.score` call: the
batch throughput, and the ratio of the two. Products: the test split's rows of the catalog in
params.yaml (`catalog.path`), repeated as needed. Figures vary with the machine and its load.
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

from devtools.processes import background, free_port, tool_env, wait_until_healthy
from prodcat.core.cli import cli_errors
from prodcat.core.params import load_params
from prodcat.data.catalog import read_catalog
from prodcat.inference.bundle import Bundle, load_bundle
from prodcat.inference.serve import served_columns


def split_products(bundle: Bundle, catalog: Path, processed: Path, count: int) -> list[dict]:
    """`count` products as the service takes them: catalog rows of the test split (all rows without one), cycled."""
    raw = read_catalog(catalog)
    if (processed / "test.parquet").is_file():
        raw = raw[raw[bundle.dataset.id_column].isin(pd.read_parquet(processed / "test.parquet", columns=["id"])["id"])]
    rows = raw[served_columns(bundle.dataset)].astype(object).where(raw.notna(), None).to_dict("records")
    return [rows[index % len(rows)] for index in range(count)]


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
    args = parser.parse_args(argv)

    with cli_errors("bench-serve"):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the figures
        bundle = load_bundle(args.bundle)
        products = split_products(bundle, Path(load_params(args.params).catalog.path), Path(args.processed), args.requests * args.batch)
    bodies = [products[start : start + args.batch] for start in range(0, len(products), args.batch)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "serve.log"
        command = [sys.executable, "-m", "prodcat.inference.serve", "--bundle", args.bundle, "--port", str(port)]
        with background(command, Path.cwd(), tool_env(), log) as server:
            wait_until_healthy(url, server, log)
            asyncio.run(load(url, bodies[: args.clients], args.clients))  # warm-up: first calls load lazily
            latencies, errors, seconds = asyncio.run(load(url, bodies, args.clients))
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    online = len(products) / seconds
    print(
        f"serve: {len(bodies)} requests of {args.batch} product(s), {args.clients} clients, {bundle.manifest['variant']}: "
        f"{len(bodies) / seconds:.1f} requests/s, {online:.1f} products/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}"
    )

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
