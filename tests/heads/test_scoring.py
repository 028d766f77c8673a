"""Heads and fusion: each variant's probabilities from its feature blocks, fusion weights, the champion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import StratifiedKFold

from prodcat.heads.xgboost import TabularEncoding, design_matrix, train_booster
from prodcat.core.params import TrainXgbParams
from prodcat.heads.scoring import (
    FeatureBlocks,
    TrainedHeads,
    choose_champion,
    cross_fitted_fusion,
    fit_fusion_weights,
    simplex_grid,
    text_features,
    variant_probabilities,
)

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def one_hot(labels: np.ndarray, confidence: float) -> np.ndarray:
    probabilities = np.full((len(labels), 3), (1 - confidence) / 2)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def test_hybrid_reads_the_finetuned_embedding_then_the_sparse_scores() -> None:
    blocks = FeatureBlocks({"stock": np.zeros((2, 2)), "finetuned": np.ones((2, 2))}, np.full((2, 3), 7.0), np.empty((2, 0)))
    assert text_features("hybrid", blocks).tolist() == [[1, 1, 7, 7, 7]] * 2
    assert text_features("stock", blocks).tolist() == [[0, 0]] * 2


def test_each_head_turns_its_features_into_probabilities() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(90, 4)).astype(np.float32) + np.repeat([0, 1, 2], 30)[:, None] * 3
    labels = np.repeat([0, 1, 2], 30)
    encoding = TabularEncoding.fit(pd.DataFrame(index=range(90)), [])
    tabular = encoding.transform(pd.DataFrame(index=range(90)))
    booster = train_booster(design_matrix(embeddings, tabular, encoding, labels), 3, TrainXgbParams(num_boost_round=5), threads=1)
    head = {"weight": torch.eye(3, 4), "bias": torch.zeros(3), "log_scale": torch.tensor(0.0)}
    heads = TrainedHeads(encoding, {"finetuned": booster}, head, sparse_temperature=2.0, fusion_weights={"softmax": 0.25, "sparse": 0.75})
    sparse_scores = np.log(one_hot(labels, 0.8)).astype(np.float32)
    blocks = FeatureBlocks({"finetuned": embeddings}, sparse_scores, tabular)

    probabilities = variant_probabilities(["fusion", "finetuned", "softmax", "sparse"], blocks, heads)
    assert list(probabilities) == ["finetuned", "softmax", "sparse", "fusion"]  # fusion after its members
    assert (probabilities["finetuned"].argmax(axis=1) == labels).mean() > 0.95
    expected_softmax = torch.softmax(torch.nn.functional.normalize(torch.from_numpy(embeddings), dim=-1)[:, :3], dim=-1).numpy()
    np.testing.assert_allclose(probabilities["softmax"], expected_softmax, rtol=1e-5)
    squared = one_hot(labels, 0.8) ** 2  # temperature 2 on log-probabilities squares them before normalising
    np.testing.assert_allclose(probabilities["sparse"], squared / squared.sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(probabilities["fusion"], 0.25 * probabilities["softmax"] + 0.75 * probabilities["sparse"], rtol=1e-6)


def test_fusion_weights_favour_the_better_member() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    good, noise = one_hot(labels, 0.7), rng.dirichlet(np.ones(3), 400)
    weights = fit_fusion_weights({"good": good, "noise": noise}, labels)
    assert weights["good"] >= 0.8 and weights["good"] + weights["noise"] == pytest.approx(1.0)
    assert len(simplex_grid(3)) == 66 and (1.0, 0.0, 0.0) in simplex_grid(3)


def test_cross_fitted_fusion_scores_each_half_with_weights_from_the_other() -> None:
    """A member right on one half of validation and wrong on the other: each half is scored with the other half's weights."""
    labels = np.tile([0, 1, 2], 40)
    first, second = next(StratifiedKFold(n_splits=2, shuffle=True, random_state=0).split(labels, labels))
    right_on_first = np.array(labels)
    right_on_first[second] = (labels[second] + 1) % 3
    flaky, steady = one_hot(right_on_first, 0.9), one_hot(labels, 0.5)
    weights, honest = cross_fitted_fusion({"flaky": flaky, "steady": steady}, labels, seed=0)
    assert sum(weights.values()) == pytest.approx(1.0) and np.allclose(honest.sum(axis=1), 1.0)
    # Fitted on the first half, the weights trust `flaky`, which is wrong on the second half, and vice versa.
    assert (honest[second].argmax(axis=1) == labels[second]).mean() == 0.0
    assert (honest[first].argmax(axis=1) == labels[first]).mean() == 1.0


def test_champion_is_best_accuracy_then_macro_f1_then_first_listed() -> None:
    scores = {
        "sparse": {"accuracy": 0.90, "macro_f1": 0.80},
        "hybrid": {"accuracy": 0.92, "macro_f1": 0.70},
        "fusion": {"accuracy": 0.92, "macro_f1": 0.75},
        "softmax": {"accuracy": 0.92, "macro_f1": 0.75},
    }
    assert choose_champion(scores) == "fusion"
    assert choose_champion({"a": {"accuracy": 0.5, "macro_f1": 0.5}, "b": {"accuracy": 0.5, "macro_f1": 0.5}}) == "a"
