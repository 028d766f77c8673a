"""The fine-tuning softmax head as a classifier of its own (variant `softmax`): cosine logits over the embedding.

Its weights' format is `softmax_weights.py`, shared with fine-tuning. The head is
saved beside the encoder it was trained with (`models/<encoder>/softmax_head.safetensors`) and
scores that encoder's embeddings: `SoftmaxHead` reads the encoder its variant names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.base import Head
from prodcat.heads.softmax_weights import SOFTMAX_HEAD_FILE, head_probabilities, load_head


@dataclass(frozen=True)
class SoftmaxHead(Head):
    """The cosine classifier trained with an encoder, on that encoder's embeddings alone."""

    encoder: str
    weights: dict[str, torch.Tensor]

    # Trained with its encoder by fine-tuning (prodcat.training.finetune, objective softmax_head), not from feature blocks.
    fitted_in = "finetune"

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return [f"{spec.encoder}/{SOFTMAX_HEAD_FILE}"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> SoftmaxHead:
        assert spec.encoder is not None  # a softmax variant reads its fine-tuned encoder
        return cls(spec.encoder, load_head(models / spec.encoder))

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        return head_probabilities(self.weights, blocks.embeddings[self.encoder])
