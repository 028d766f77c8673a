"""The feature blocks of a stored split: each variant's encoders and the sparse scores only where a variant reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from prodcat.encoders.matrices import save_matrix
from prodcat.features.blocks import stored_blocks
from prodcat.features.tabular import TabularEncoding


def test_a_split_gives_the_blocks_its_variants_read_and_no_other(tmp_path: Path) -> None:
    for number, encoder in enumerate(("stock", "adapted", "finetuned")):
        save_matrix(tmp_path / "embeddings" / encoder / "validation", np.full((2, 3), number, dtype=np.float32))
    save_matrix(tmp_path / "sparse_scores/validation", np.full((2, 4), 9, dtype=np.float32))
    frame = pd.DataFrame({"price": [1.5, np.nan]})
    encoding = TabularEncoding.fit(frame, [])

    blocks = stored_blocks(frame, "validation", ["stock", "hybrid"], tmp_path / "embeddings", tmp_path / "sparse_scores", encoding)
    assert {encoder: matrix[0, 0] for encoder, matrix in blocks.embeddings.items()} == {"stock": 0, "finetuned": 2}
    assert blocks.sparse_scores is not None and blocks.sparse_scores.tolist() == [[9] * 4] * 2
    np.testing.assert_array_equal(blocks.tabular, [[1.5], [np.nan]])

    alone = stored_blocks(frame, "validation", ["adapted"], tmp_path / "embeddings", tmp_path / "sparse_scores", encoding)
    assert list(alone.embeddings) == ["adapted"] and alone.sparse_scores is None
