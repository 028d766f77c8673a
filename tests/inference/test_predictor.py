"""Predictions of path labels: each level of the predicted path with the summed probability of the classes under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodcat.features.tabular import TabularEncoding
from prodcat.heads.scoring import TrainedHeads
from prodcat.heads.sparse import LinearHead
from prodcat.inference.batch import PredictionsFile
from prodcat.inference.predictor import Predictions, Predictor, level_probabilities, path_prefix, predict

PATHS = ["A | x", "A | y", "B | x"]


def fixed_predictor(labels: list[str], probabilities: np.ndarray) -> Predictor:
    """A sparse-only predictor whose scores are `probabilities`' logs, so its probabilities are `probabilities`."""

    class FixedScores:
        def scores(self, texts: list[str]) -> np.ndarray:
            return np.log(probabilities)

    heads = TrainedHeads(TabularEncoding(use_price=False, categories={}), {"sparse": LinearHead(temperature=1.0)})
    return Predictor("sparse", labels, ["sparse"], {}, FixedScores(), heads)


def products(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"p{row}" for row in range(rows)], "text": ["x"] * rows})


def test_a_prefix_is_whole_levels() -> None:
    assert [path_prefix("AB | y", 0), path_prefix("AB | y", 1), path_prefix("AB", 1)] == ["AB", "AB | y", None]


def test_each_level_of_the_predicted_path_sums_the_classes_under_it() -> None:
    """Under "A" are A | x and A | y, not AB | x (a longer name) nor B's leaf x; a flat label has no level 1."""
    labels = ["A | x", "A | y", "AB | x", "B"]
    probabilities = np.array([[0.5, 0.2, 0.1, 0.2], [0.1, 0.1, 0.45, 0.35], [0.1, 0.2, 0.1, 0.6]])
    levels = level_probabilities(probabilities, labels, probabilities.argmax(axis=1))
    np.testing.assert_allclose(levels, [[0.7, 0.5], [0.45, 0.45], [0.6, np.nan]])


def test_predict_names_each_level_of_a_path_label_with_its_probability() -> None:
    probabilities = np.array([[0.5, 0.2, 0.3], [0.25, 0.35, 0.4]])
    result = predict(fixed_predictor(PATHS, probabilities), products(2)).to_frame()
    assert list(result.columns) == [
        "id", "predicted",
        "top1_category", "top1_probability", "top2_category", "top2_probability", "top3_category", "top3_probability",
        "level_0", "level_0_probability", "level_1", "level_1_probability",
    ]  # fmt: skip
    assert result["predicted"].tolist() == ["A | x", "B | x"]
    assert result[["level_0", "level_1"]].values.tolist() == [["A", "x"], ["B", "x"]]
    assert result["level_0_probability"].tolist() == pytest.approx([0.7, 0.4])  # B | x alone: A | x shares only its leaf name
    assert result["level_1_probability"].tolist() == pytest.approx([0.5, 0.4])
    assert result["top1_probability"].tolist() == pytest.approx([0.5, 0.4])


def test_a_flat_label_is_its_own_level_0() -> None:
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    result = predict(fixed_predictor(["Books", "Games", "Toys"], probabilities), products(2)).to_frame()
    assert [column for column in result.columns if column.startswith("level_")] == ["level_0", "level_0_probability"]
    assert result["level_0"].tolist() == result["predicted"].tolist() == ["Games", "Books"]
    assert result["level_0_probability"].tolist() == result["top1_probability"].tolist() == pytest.approx([0.6, 0.5])


def test_a_first_chunk_of_shallow_paths_sets_a_schema_the_deeper_ones_fit(tmp_path: Path) -> None:
    """A chunk whose predictions all stop at level 0 has a missing level 1 that is still text, so the file's schema holds."""
    labels = ["A | x", "B"]
    shallow = Predictions.ranked(np.array(["p0"]), np.array([[0.2, 0.8]]), labels).to_frame()
    deep = Predictions.ranked(np.array(["p1"]), np.array([[0.9, 0.1]]), labels).to_frame()
    with PredictionsFile(tmp_path / "predictions.parquet") as file:
        file.append(shallow)
        file.append(deep)
    written = pd.read_parquet(tmp_path / "predictions.parquet")
    assert written["level_0"].tolist() == ["B", "A"] and written["level_1"].isna().tolist() == [True, False]
    assert written["level_1"].iloc[1] == "x" and written["level_1_probability"].tolist() == pytest.approx([np.nan, 0.9], nan_ok=True)
