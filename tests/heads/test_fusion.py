"""The fusion: weights fitted on validation (cross-fitted so they do not flatter it), then a weighted average of its members."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from prodcat.core.errors import InputError
from prodcat.core.variants import variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.fusion import FusionHead, cross_fitted_fusion, fit_fusion_weights, simplex_grid


def one_hot(labels: np.ndarray, confidence: float) -> np.ndarray:
    probabilities = np.full((len(labels), 3), (1 - confidence) / 2)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


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


def test_the_fusion_head_averages_its_weighted_members_and_reads_no_file(tmp_path) -> None:
    head = FusionHead.load(tmp_path, variant("fusion"), {"fusion_weights": {"softmax": 0.0, "hybrid": 0.25, "sparse": 0.75}})
    assert FusionHead.files(variant("fusion")) == [] and FusionHead.reads_other_variants
    scored = {"hybrid": one_hot(np.array([0, 1]), 0.6), "sparse": one_hot(np.array([1, 1]), 0.8)}  # softmax weighted 0: not scored
    fused = head.predict_proba(FeatureBlocks({}, None, np.empty((2, 0))), scored)
    np.testing.assert_allclose(fused, [[0.225, 0.65, 0.125], [0.125, 0.75, 0.125]])  # 0.25 x hybrid + 0.75 x sparse
    with pytest.raises(InputError, match="the fusion variant needs its weights"):
        FusionHead.load(tmp_path, variant("fusion"), {"fusion_weights": None})
