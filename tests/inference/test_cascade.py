"""The cascade: the threshold fitted on validation by value, and scores that are the sparse model's where it is sure, the champion's elsewhere."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Head
from prodcat.heads.scoring import TrainedHeads
from prodcat.inference.cascade import CascadeFit, cascade_probabilities, cascade_threshold
from prodcat.inference.predictor import Predictions, Predictor, predict


def two_class(top: list[float], right: list[bool]) -> np.ndarray:
    """Probabilities over two classes whose top one is `top`, on class 0 where `right` (truth is class 0 everywhere), else class 1."""
    top_array = np.asarray(top)
    first = np.where(right, top_array, 1 - top_array)
    return np.stack([first, 1 - first], axis=1)


# Five validation rows, most confident first; the truth is class 0. The sparse model is wrong on rows 2 and 4.
SPARSE = two_class([0.95, 0.9, 0.8, 0.7, 0.6], [True, True, False, True, False])
TRUTH = np.zeros(5, dtype=int)


def test_the_threshold_is_the_lowest_whose_accuracy_loss_is_allowed() -> None:
    champion = two_class([0.9] * 5, [True] * 5)  # right everywhere: accuracy 1.0
    # Answering 1 or 2 rows costs nothing; the 3rd row (0.8) costs a row (0.2 of 5): not allowed at 0.001.
    assert cascade_threshold(SPARSE, champion, TRUTH, 0.001) == CascadeFit(0.9, 0.4, 1.0, 1.0)
    # Allowed to lose one row in five: down to 0.7 (4 rows answered, one of them wrong), not 0.6 (two wrong).
    assert cascade_threshold(SPARSE, champion, TRUTH, 0.2) == CascadeFit(0.7, 0.8, 1.0, 0.8)


def test_the_lowest_allowed_threshold_wins_where_accuracy_is_not_monotone() -> None:
    champion = two_class([0.9] * 5, [True, True, True, False, True])  # wrong on row 3, where the sparse model is right
    # At 0.8 one row is lost, at 0.7 it is won back: 0.7 is allowed even at 0.001; at 0.6 the sparse model loses row 4.
    assert cascade_threshold(SPARSE, champion, TRUTH, 0.001) == CascadeFit(0.7, 0.8, 0.8, 0.8)


def test_tied_confidences_are_answered_together_or_not_at_all() -> None:
    sparse = two_class([0.9, 0.9, 0.8], [True, False, True])  # the two rows at 0.9 cannot be split by a threshold
    champion = two_class([0.9] * 3, [True] * 3)
    assert cascade_threshold(sparse, champion, np.zeros(3, dtype=int), 0.001) == CascadeFit(None, 0.0, 1.0, 1.0)
    assert cascade_threshold(sparse, champion, np.zeros(3, dtype=int), 0.34) == CascadeFit(0.8, 1.0, 1.0, 2 / 3)


def test_cascade_probabilities_are_the_sparse_models_where_sure_and_the_champions_elsewhere() -> None:
    champion = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.5, 0.5]])
    asked = []

    def champion_rows(rows: np.ndarray) -> np.ndarray:
        asked.append(rows.tolist())
        return champion[rows]

    result = cascade_probabilities(SPARSE, 0.75, champion_rows)
    assert asked == [[3, 4]]  # the champion scores only the rows below the threshold, in one call
    assert np.array_equal(result, np.vstack([SPARSE[:3], champion[3:]]))
    asked.clear()
    assert np.array_equal(cascade_probabilities(SPARSE, 0.6, champion_rows), SPARSE) and asked == []


class FixedHead(Head):
    """A champion whose probabilities are a function of the (fake) embeddings, so the rows it scored are known."""

    @classmethod
    def files(cls, spec):
        return []

    @classmethod
    def load(cls, models, spec, choice):
        return cls()

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        return blocks.embeddings["finetuned"]


def test_a_cascade_predictor_encodes_only_the_unsure_rows_and_keeps_the_prediction_columns() -> None:
    labels = ["A | x", "A | y", "B | x"]
    sparse_probabilities = np.array([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.05, 0.05, 0.9], [0.3, 0.3, 0.4]], dtype=np.float32)
    champion = {"t1": [0.1, 0.2, 0.7], "t3": [0.2, 0.7, 0.1]}
    encoded = []

    class FixedScores:
        temperature = 1.0

        def scores(self, texts: list[str]) -> np.ndarray:
            return np.log(sparse_probabilities)

    def encode(texts: list[str]) -> np.ndarray:
        encoded.append(texts)
        return np.array([champion[text] for text in texts], dtype=np.float32)

    heads = TrainedHeads(TabularEncoding(use_price=False, categories={}), {"softmax": FixedHead()})
    predictor = Predictor("softmax", labels, ["softmax"], {"finetuned": encode}, FixedScores(), heads, cascade_threshold=0.5)
    features = pd.DataFrame({"id": ["p0", "p1", "p2", "p3"], "text": ["t0", "t1", "t2", "t3"]})
    frame = predict(predictor, features).to_frame()
    assert encoded == [["t1", "t3"]]
    expected = np.array([sparse_probabilities[0], champion["t1"], sparse_probabilities[2], champion["t3"]])
    pd.testing.assert_frame_equal(
        frame, Predictions.ranked(features["id"].to_numpy(), expected, labels).to_frame(), check_dtype=False, atol=1e-4
    )
    assert frame["predicted"].tolist() == ["A | x", "B | x", "B | x", "A | y"]
    assert frame["level_0_probability"].tolist() == pytest.approx([0.95, 0.7, 0.9, 0.9], abs=1e-4)
