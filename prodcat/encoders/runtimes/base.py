"""What an encoder runtime is: loaded from an encoder folder and the inference settings, it turns texts into embeddings.

Every runtime embeds as `SentenceTransformer.encode` does (same tokenizer, truncation, pooling,
normalisation and row order), so a runtime changes speed and float error, never which vectors mean what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class RuntimeSettings:
    """The `inference` settings a runtime embeds with (the bundle stores them; the embed stage reads params.yaml)."""

    max_seq_length: int
    batch_size: int
    precision: str  # inference.precision: `auto` is resolved by the runtime for the device it runs on


class EncoderRuntime(Protocol):
    """`encode(texts)`: float32 embeddings, one row per text in the order given."""

    def encode(self, texts: list[str]) -> np.ndarray: ...
