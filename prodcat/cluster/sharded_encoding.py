"""Sentence embeddings on a Dask cluster: one task per shard of texts, each worker loading the encoder runtime once.

The embed stage's sharded path (prodcat/cluster/workers.py does the mapping): any runtime of
prodcat/encoders/runtimes/, torch for the encoders and onnx_int8 for their int8 exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from distributed import Client

from prodcat.cluster.workers import map_ordered, shards, worker_model
from prodcat.core.params import Runtime
from prodcat.encoders.runtimes.base import RuntimeSettings
from prodcat.encoders.runtimes.registry import load_runtime


@dataclass(frozen=True)
class EncoderSpec:
    """What a worker needs to load an encoder runtime and embed as the sending process does."""

    runtime: Runtime
    source: str  # the encoder (a name or folder), or the onnx_int8 export folder, through `worker_path`
    settings: RuntimeSettings  # precision resolved (bf16, fp16, fp32): the one the embedding cache is keyed by
    fingerprint: str  # the runtime's fingerprint (equal ones embed equally): the worker's model key


def encode_shard(texts: list[str], spec: EncoderSpec) -> np.ndarray:
    """A worker task: the embeddings of one shard, with the worker's copy of the encoder."""
    with worker_model(f"encoder:{spec.fingerprint}", lambda: load_runtime(spec.runtime, spec.source, spec.settings)) as encoder:
        return encoder.encode(list(texts))


def encode_on_cluster(client: Client, spec: EncoderSpec, texts: list[str], shard_rows: int) -> np.ndarray:
    """The embeddings of `texts` in their order, one task per `shard_rows` texts."""
    return np.concatenate(list(map_ordered(client, encode_shard, shards(texts, shard_rows), spec)))
