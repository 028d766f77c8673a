"""Data-parallel work on a Dask cluster: inputs split into shards, one task per shard, results in input order.

With no cluster configured (`cluster` params: no scheduler, no local workers) `open_cluster` gives
None and the callers run in-process, exactly as without Dask. A worker process loads a model (an
encoder, a bundle) once, on its first shard, and keeps it for the next ones (`worker_model`).
Workers read models from the paths the caller names: a remote scheduler's workers must see the
same files (a shared filesystem or the same checkout).
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import dask
import torch
from distributed import Client, LocalCluster, get_worker

from prodcat.core.params import ClusterParams

T = TypeVar("T")
R = TypeVar("R")

# Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which also pins glibc's mmap threshold:
# every activation tensor a forward pass frees goes back to the kernel and the next one faults its pages
# in again. Embedding ran at 0.65x the in-process rate per core with it (bench-scale), at par without.
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}

KEPT_MODELS = 2  # models a worker keeps loaded: the embed stage's encoder and its int8 export, one encoder after the other


@contextmanager
def open_cluster(settings: ClusterParams) -> Iterator[Client | None]:
    """A client of the configured cluster, closed (and a local cluster stopped) on exit; None when none is configured."""
    if not settings.configured:
        yield None
    elif settings.scheduler is not None:
        with Client(settings.scheduler) as client:
            yield client
    else:
        with (
            dask.config.set(NO_MALLOC_TRIM),
            LocalCluster(
                n_workers=settings.local_workers,
                threads_per_worker=settings.threads_per_worker,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,  # fmt: skip
            Client(cluster) as client,
        ):
            yield client


def worker_path(location: str | Path) -> str:
    """An existing path made absolute, for workers whose working directory is not ours; a model name unchanged."""
    return str(Path(location).resolve()) if Path(location).exists() else str(location)


def shards(items: Sequence[T], rows: int) -> list[Sequence[T]]:
    """`items` cut into consecutive slices of `rows` (the last one shorter)."""
    return [items[start : start + rows] for start in range(0, len(items), rows)]


def in_flight(client: Client) -> int:
    """Tasks kept submitted at once: two per worker thread, so no worker waits while results come back."""
    return 2 * max(sum(client.nthreads().values()), 1)


def map_ordered(client: Client, function: Callable[..., R], items: Iterable[T], *args: Any) -> Iterator[R]:
    """`function(item, *args)` for each item, one task each, results yielded in the order of `items`.

    At most `in_flight` tasks are pending, so a stream of items (a catalog read chunk by chunk) is
    mapped in bounded memory. Each item is scattered to the cluster, not embedded in the task graph.
    """
    limit = in_flight(client)
    pending: deque = deque()
    for item in items:
        [data] = client.scatter([item], hash=False)
        pending.append(client.submit(function, data, *args, pure=False))
        if len(pending) >= limit:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# Worker side: the models loaded in this process, most recently used last, and how often each key was loaded.
_models: OrderedDict[str, tuple[Any, threading.Lock]] = OrderedDict()
_models_lock = threading.Lock()
model_loads: Counter = Counter()


@contextmanager
def worker_model(key: str, load: Callable[[], T]) -> Iterator[T]:
    """The model stored under `key` in this worker process, loaded on first use; used by one task at a time.

    `key` must change whenever the model does (a weights fingerprint): workers of a long-running
    scheduler outlive a pipeline run. One task at a time per model, with torch using every thread of
    the worker: a tokenizer shared by concurrent tasks fails, and one shard already fills the threads.
    """
    with _models_lock:
        if key not in _models:
            _models[key] = (load(), threading.Lock())
            model_loads[key] += 1
            while len(_models) > KEPT_MODELS:
                _models.popitem(last=False)
        _models.move_to_end(key)
        model, in_use = _models[key]
    with in_use:
        torch.set_num_threads(get_worker().state.nthreads)
        yield model


def worker_loads() -> dict[str, int]:
    """Run on a worker: its model loads (a module function, so it runs there by reference, not a copy of ours)."""
    return dict(model_loads)


def loads_per_worker(client: Client) -> dict[str, dict[str, int]]:
    """Worker address -> model key -> times loaded in that worker process (1 each when models are kept)."""
    return client.run(worker_loads)
