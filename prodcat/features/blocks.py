"""The feature blocks of a set of rows, and those of a stored split: what the embed and train_sparse stages wrote, as the heads read it.

Apart from the heads, so that a stage that fits heads on stored blocks (train_xgb) reads the same
blocks as the stages that score them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.core.variants import encoders_needed, sparse_needed
from prodcat.encoders.matrices import load_matrix
from prodcat.features.tabular import TabularEncoding


@dataclass(frozen=True)
class FeatureBlocks:
    """What the heads read for a set of rows: embeddings per encoder, sparse class scores, tabular columns."""

    embeddings: dict[str, np.ndarray]
    sparse_scores: np.ndarray | None
    tabular: np.ndarray


def stored_blocks(
    frame: pd.DataFrame, split: str, names: list[str], embeddings: Path, sparse_scores: Path, encoding: TabularEncoding
) -> FeatureBlocks:
    """The feature blocks the variants `names` read for one split, from the embed and train_sparse outputs."""
    return FeatureBlocks(
        embeddings={encoder: load_matrix(embeddings / encoder / split) for encoder in encoders_needed(names)},
        sparse_scores=load_matrix(sparse_scores / split) if sparse_needed(names) else None,
        tabular=encoding.transform(frame),
    )
