"""Sentence embeddings on a Dask cluster: one task per shard of texts, each worker loading the encoder once.

The embed stage's sharded path (prodcat/cluster/workers.py does the mapping); a torch encoder or an int8 export.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from distributed import Client

from prodcat.cluster.workers import map_ordered, shards, worker_model
from prodcat.encoders.encode import encode_texts
from prodcat.encoders.int8 import Int8Encoder
from prodcat.encoders.load import load_encoder, pick_device


@dataclass(frozen=True)
class TorchEncoderSpec:
    """What a worker needs to load a sentence-transformers encoder and embed as `encode_texts` does."""

    source: str  # name or folder (prodcat.encoders.load.load_encoder), through `worker_path`
    max_seq_length: int
    batch_size: int
    precision: str  # resolved (bf16, fp16, fp32): the one the embedding cache is keyed by
    fingerprint: str  # prodcat.encoders.encode.encoder_fingerprint: the worker's model key

    def load(self) -> Any:
        return load_encoder(self.source, self.max_seq_length, device=pick_device())

    def encode(self, model: Any, texts: list[str]) -> np.ndarray:
        return encode_texts(model, texts, self.batch_size, self.precision)


@dataclass(frozen=True)
class Int8EncoderSpec:
    """The same for an int8 ONNX export (prodcat.encoders.int8.Int8Encoder)."""

    folder: str  # through `worker_path`
    batch_size: int
    fingerprint: str  # the export's fingerprint

    def load(self) -> Int8Encoder:
        return Int8Encoder(self.folder)

    def encode(self, model: Int8Encoder, texts: list[str]) -> np.ndarray:
        return model.encode(texts, self.batch_size)


EncoderSpec = TorchEncoderSpec | Int8EncoderSpec


def encode_shard(texts: list[str], spec: EncoderSpec) -> np.ndarray:
    """A worker task: the embeddings of one shard, with the worker's copy of the encoder."""
    with worker_model(f"encoder:{spec.fingerprint}", spec.load) as model:
        return spec.encode(model, list(texts))


def encode_on_cluster(client: Client, spec: EncoderSpec, texts: list[str], shard_rows: int) -> np.ndarray:
    """The embeddings of `texts` in their order, one task per `shard_rows` texts."""
    return np.concatenate(list(map_ordered(client, encode_shard, shards(texts, shard_rows), spec)))
