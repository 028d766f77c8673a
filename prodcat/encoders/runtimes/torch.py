"""The torch runtime: the SentenceTransformer itself on the best device here (the reference every other runtime is checked against)."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from prodcat.encoders.encode import encode_texts, encoder_fingerprint
from prodcat.encoders.load import load_encoder, pick_device, resolve_precision
from prodcat.encoders.runtimes.base import RuntimeSettings


class TorchEncoder:
    """`encode_texts` on a loaded model, at `settings.precision` resolved for the model's device."""

    def __init__(self, model: SentenceTransformer, settings: RuntimeSettings) -> None:
        self.model = model
        self.batch_size = settings.batch_size
        self.precision = resolve_precision(settings.precision, model.device.type)

    @classmethod
    def load(cls, source: str, settings: RuntimeSettings, device: str | None = None) -> TorchEncoder:
        """The encoder at `source` (a name or folder, `load_encoder`) on `device`, by default the best one here."""
        return cls(load_encoder(source, settings.max_seq_length, device=device or pick_device()), settings)

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints embed equally: the weights, tokenizer, truncation and precision."""
        return encoder_fingerprint(self.model, self.precision)

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self.model, texts, self.batch_size, self.precision)
