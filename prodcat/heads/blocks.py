"""The feature blocks of a stored split: what the embed and train_sparse stages wrote, as the heads read it.

Apart from the scoring code, so that train_xgb, which fits on these blocks, depends on no other head.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from prodcat.core.variants import encoders_needed, sparse_needed
from prodcat.encoders.matrices import load_matrix
from prodcat.heads.base import FeatureBlocks

if TYPE_CHECKING:
    from prodcat.heads.xgboost import TabularEncoding


def stored_blocks(
    frame: pd.DataFrame, split: str, names: list[str], embeddings: Path, sparse_scores: Path, encoding: TabularEncoding
) -> FeatureBlocks:
    """The feature blocks the variants `names` read for one split, from the embed and train_sparse outputs."""
    return FeatureBlocks(
        embeddings={encoder: load_matrix(embeddings / encoder / split) for encoder in encoders_needed(names)},
        sparse_scores=load_matrix(sparse_scores / split) if sparse_needed(names) else None,
        tabular=encoding.transform(frame),
    )
