"""`prodcat serve`: the online service over a model bundle (prodcat/serve/), until SIGTERM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodcat.serve.server import serve as serve_bundle
from prodcat.serve.settings import BATCH_ROWS, MAX_BATCH, SHUTDOWN_SECONDS, WAIT_MS


def serve(
    bundle: Annotated[Path, typer.Option(help="the model bundle (from `dvc repro`)")] = Path("models/bundle"),
    host: Annotated[str | None, typer.Option(help="address to listen on (default: $HOST or 127.0.0.1)", show_default=False)] = None,
    port: Annotated[int | None, typer.Option(help="port (default: $PORT or 8000)", show_default=False)] = None,
    max_batch: Annotated[int, typer.Option(help="most products in one request, 413 beyond")] = MAX_BATCH,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(help="largest request body, 413 beyond (default: $PRODCAT_MAX_BODY_BYTES or max-batch x 32 KiB)", show_default=False),
    ] = None,
    wait_ms: Annotated[float, typer.Option(help="how long a request waits for others to share its scoring call")] = WAIT_MS,
    batch_rows: Annotated[int, typer.Option(help="most products in one encoder call")] = BATCH_ROWS,
    cache_size: Annotated[
        int | None, typer.Option(help="answers kept by product (default: $PRODCAT_CACHE_SIZE or 10000; 0: no cache)", show_default=False)
    ] = None,
    shutdown_seconds: Annotated[float, typer.Option(help="on SIGTERM, how long in-flight and queued requests may still take")] = (
        SHUTDOWN_SECONDS
    ),
) -> None:
    """Serve the bundle over HTTP: POST /predict, GET /health, /model, /metrics (docs at /docs).

    Concurrent requests are micro-batched into one scoring call. PRODCAT_API_KEY, when set, guards
    every path but /health and the docs (Bearer token); a host other than loopback without it gets a warning.
    """
    serve_bundle(bundle, host, port, max_batch, max_body_bytes, wait_ms, batch_rows, cache_size, shutdown_seconds)
