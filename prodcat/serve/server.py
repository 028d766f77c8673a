"""Running the service: `prodcat serve`'s options and the environment made settings, then uvicorn until SIGTERM."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from prodcat.core.cli import cli_errors
from prodcat.serve.access import API_KEY_ENV
from prodcat.serve.app import create_app
from prodcat.serve.settings import BATCH_ROWS, MAX_BATCH, SHUTDOWN_SECONDS, WAIT_MS, env_int, settings_from_environment

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run(app: FastAPI, host: str, port: int, shutdown_seconds: float) -> None:
    """Serve until SIGTERM or SIGINT: uvicorn then closes the listening socket (new connections are refused), lets
    in-flight requests finish for up to `shutdown_seconds`, then the lifespan drains the micro-batcher."""
    # uvicorn hints an int but waits with asyncio.wait_for, which takes fractions of a second too.
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=shutdown_seconds)  # type: ignore[arg-type]


def serve(
    bundle: Path | str = "models/bundle",
    host: str | None = None,
    port: int | None = None,
    max_batch: int = MAX_BATCH,
    max_body_bytes: int | None = None,
    wait_ms: float = WAIT_MS,
    batch_rows: int = BATCH_ROWS,
    cache_size: int | None = None,
    shutdown_seconds: float = SHUTDOWN_SECONDS,
) -> None:
    """Serve `bundle` on host:port until SIGTERM (not given: $HOST or 127.0.0.1, $PORT or 8000). The body limit and cache size not given come from PRODCAT_MAX_BODY_BYTES
    and PRODCAT_CACHE_SIZE, the key from PRODCAT_API_KEY; a missing bundle or a bad limit stops it with one line
    (`prodcat serve: error: ...`, exit status 1), and a host other than loopback without a key gets a warning."""
    with cli_errors("prodcat serve"):
        host = host or os.environ.get("HOST") or DEFAULT_HOST
        port = port or env_int("PORT") or DEFAULT_PORT
        settings = settings_from_environment(max_batch, max_body_bytes, wait_ms, batch_rows, cache_size, shutdown_seconds)
        app = create_app(bundle, settings)
    if settings.api_key is None and host not in LOOPBACK:
        print(
            f"prodcat serve: warning: listening on {host} without an API key: anyone who reaches it may call it (set {API_KEY_ENV})",
            file=sys.stderr,
        )
    run(app, host, port, settings.shutdown_seconds)
