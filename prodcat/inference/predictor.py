"""Scoring raw products with a trained variant: the same features as training, top-k categories.

prodcat.inference.bundle assembles the Predictor from the model bundle; this module only scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodcat.heads.base import FeatureBlocks
from prodcat.heads.linear import SparseModel
from prodcat.heads.scoring import TrainedHeads, variant_probabilities


@dataclass(frozen=True)
class Predictor:
    """One variant and everything it needs to score raw products: encoders, sparse model, heads, label names."""

    name: str
    labels: list[str]
    scored: list[str]  # the variant, after its fusion members if it is the fusion
    encoders: dict[str, Callable[[list[str]], np.ndarray]]
    sparse: SparseModel | None
    heads: TrainedHeads

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        texts = features["text"].tolist()
        blocks = FeatureBlocks(
            embeddings={encoder: encode(texts) for encoder, encode in self.encoders.items()},
            sparse_scores=self.sparse.scores(texts) if self.sparse else None,
            tabular=self.heads.encoding.transform(features),
        )
        return variant_probabilities(self.scored, blocks, self.heads)[self.name]


def predict(predictor: Predictor, features: pd.DataFrame, top_k: int = 3) -> pd.DataFrame:
    """One row per product: the predicted category and the top-k categories with their probabilities."""
    probabilities = predictor.probabilities(features)
    ranked = np.argsort(-probabilities, axis=1)[:, :top_k]
    labels = np.asarray(predictor.labels, dtype=object)
    result = pd.DataFrame({"id": features["id"].to_numpy(), "predicted": labels[ranked[:, 0]]})
    for rank in range(ranked.shape[1]):
        result[f"top{rank + 1}_category"] = labels[ranked[:, rank]]
        result[f"top{rank + 1}_probability"] = probabilities[np.arange(len(ranked)), ranked[:, rank]].round(4)
    return result
