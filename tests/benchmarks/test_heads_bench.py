"""The heads benchmark's pieces that decide its figures: top-k features, the hierarchical product, the shared rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import heads


def test_top_k_block_keeps_scores_in_rank_order_with_their_classes() -> None:
    scores = np.array([[0.1, 0.9, -0.5, 0.4], [2.0, -1.0, 0.0, 1.0]], dtype=np.float32)
    block, types = heads.top_k_block(scores, 2)
    np.testing.assert_allclose(block, [[0.9, 0.4, 1, 3], [2.0, 1.0, 0, 3]])
    assert types == ["q", "q", "c", "c"]


def test_hierarchical_probabilities_are_parent_times_child() -> None:
    """Paths 0, 1 under parent 0, path 2 alone under parent 1: a one-child parent needs no head and passes its probability on."""
    parent_of = np.array([0, 0, 1])
    labels = np.array([0, 1, 2, 0, 1, 2])
    test = np.zeros((2, 1))
    fitted = []

    def fit_head(rows, y, test_rows, num_classes):
        fitted.append((len(rows), num_classes))
        table = {2: np.array([[0.75, 0.25], [0.5, 0.5]])}
        return {"probabilities": table[num_classes], "train_seconds": 1.0, "score_seconds": 0.5}

    result = heads.hierarchical(np.zeros((6, 1)), test, labels, parent_of, fit_head, 3)
    assert fitted == [(6, 2), (4, 2)]  # the parent head on all rows, one child head on parent 0's rows
    np.testing.assert_allclose(result["probabilities"], [[0.5625, 0.1875, 0.25], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(result["probabilities"].sum(axis=1), 1.0)
    assert (result["train_seconds"], result["score_seconds"]) == (2.0, 1.0)


def test_both_tasks_share_rows_without_the_unlabelled_and_rare(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "product_name": [f"p{i}" for i in range(9)],
            "department": ["a"] * 4 + ["b"] * 3 + ["missing"] * 2,
            "aisle": ["x"] * 4 + ["y"] * 2 + ["z"] + ["m"] * 2,
        }
    )
    frame["category"] = frame["department"] + " | " + frame["aisle"]
    frame.to_csv(tmp_path / "products.csv", index=False)
    rows = heads.labelled_rows(tmp_path / "products.csv", min_class_rows=2)
    assert sorted(rows["category"].unique()) == ["a | x", "b | y"]
    codes, classes = heads.class_codes(rows["department"])
    assert classes == ["a", "b"] and codes.tolist() == [0, 0, 0, 0, 1, 1]
