"""How the service takes requests: its limits, micro-batching, cache and key, from the command's options and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from prodcat.core.errors import InputError
from prodcat.serve.access import API_KEY_ENV, default_body_limit

MAX_BATCH = 256  # products in one request; more is a 413
WAIT_MS = 2.0  # how long the first waiting request waits for others to share its scoring call
BATCH_ROWS = 512  # products in one scoring call
CACHE_SIZE = 10_000  # answers kept by product text hash (about 1 kB each)
SHUTDOWN_SECONDS = 30.0  # on SIGTERM, how long in-flight and queued requests may still take
BODY_LIMIT_ENV, CACHE_SIZE_ENV = "PRODCAT_MAX_BODY_BYTES", "PRODCAT_CACHE_SIZE"


@dataclass(frozen=True)
class ServiceSettings:
    """How the service takes requests: the `prodcat serve` options, and create_app's."""

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


DEFAULT_SETTINGS = ServiceSettings()


def env_int(name: str) -> int | None:
    """An integer setting from the environment, None when unset; anything else is a one-line error."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{name}={value!r} is not an integer") from None


def settings_from_environment(
    max_batch: int = MAX_BATCH,
    max_body_bytes: int | None = None,
    wait_ms: float = WAIT_MS,
    batch_rows: int = BATCH_ROWS,
    cache_size: int | None = None,
    shutdown_seconds: float = SHUTDOWN_SECONDS,
) -> ServiceSettings:
    """The settings of the given options; the body limit, cache size and API key not given come from the environment
    (PRODCAT_MAX_BODY_BYTES, PRODCAT_CACHE_SIZE, PRODCAT_API_KEY). Limits that cannot work are an InputError."""
    body_limit = max_body_bytes if max_body_bytes is not None else env_int(BODY_LIMIT_ENV)
    cache = cache_size if cache_size is not None else env_int(CACHE_SIZE_ENV)
    settings = ServiceSettings(
        max_batch=max_batch,
        max_body_bytes=body_limit,
        micro_batch_wait_ms=wait_ms,
        micro_batch_rows=batch_rows,
        cache_size=CACHE_SIZE if cache is None else cache,
        api_key=os.environ.get(API_KEY_ENV) or None,
        shutdown_seconds=shutdown_seconds,
    )
    if settings.body_limit < 1 or settings.cache_size < 0:
        raise InputError(
            f"the body limit must be positive and the cache size at least 0, got {settings.body_limit} and {settings.cache_size}"
        )
    return settings
