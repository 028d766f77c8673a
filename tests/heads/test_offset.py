"""The sparse-offset softmax head starts as the calibrated sparse model, learns what the embedding adds, on train rows only."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import torch

from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Fitting, TrainingRows
from prodcat.heads.offset import OffsetHead, held_out_rows
from prodcat.heads.registry import head_class
from prodcat.heads.sparse import fit_temperature, probabilities

HYBRID_LINEAR = variant("hybrid_linear")
SEED_7 = Fitting(TabularEncoding(use_price=False, categories={}), TrainXgbParams(seed=7))  # train_xgb.seed: base.seed
CLASSES = 4


def problem(rows: int, seed: int) -> tuple[FeatureBlocks, np.ndarray]:
    """Scores that tell classes {0, 1} from {2, 3} and nothing more; an embedding whose first column tells 0 from 1 and 2 from 3."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, rows)
    pair = labels // 2
    scores = (3.0 * np.eye(2)[pair].repeat(2, axis=1) + rng.normal(0, 0.5, (rows, CLASSES))).astype(np.float32)
    embedding = rng.normal(0, 1, (rows, 8)).astype(np.float32)
    embedding[:, 0] += 2.0 * (2 * (labels % 2) - 1)
    return FeatureBlocks({"finetuned": embedding}, scores, np.empty((rows, 0), dtype=np.float32)), labels


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())


def test_the_same_seed_gives_the_same_weights() -> None:
    blocks, labels = problem(600, seed=0)
    first, second = (OffsetHead.fit(HYBRID_LINEAR, TrainingRows(blocks, labels, CLASSES), SEED_7, max_epochs=3) for _ in range(2))
    assert set(first.weights) == {"weight", "bias", "scale", "mean", "std", "temperature"}
    assert first.weights["weight"].abs().sum() > 0
    for name, value in first.weights.items():
        assert torch.equal(value, second.weights[name]), name


def test_before_any_step_it_is_the_calibrated_sparse_model() -> None:
    blocks, labels = problem(300, seed=1)
    head = OffsetHead.fit(HYBRID_LINEAR, TrainingRows(blocks, labels, CLASSES), SEED_7, max_epochs=0)
    expected = probabilities(blocks.sparse_scores, fit_temperature(blocks.sparse_scores, labels))
    np.testing.assert_allclose(head.predict_proba(blocks, {}), expected, rtol=1e-5, atol=1e-7)


def test_it_learns_what_the_embedding_adds_to_the_scores() -> None:
    blocks, labels = problem(8000, seed=2)
    unseen, truth = problem(1000, seed=3)
    head = OffsetHead.fit(HYBRID_LINEAR, TrainingRows(blocks, labels, CLASSES), SEED_7)
    sparse = accuracy(probabilities(unseen.sparse_scores, head.weights["temperature"].item()), truth)
    assert sparse < 0.6  # the scores alone guess within a pair
    assert accuracy(head.predict_proba(unseen, {}), truth) > sparse + 0.15


def test_the_epoch_is_chosen_on_a_seeded_tenth_of_the_train_rows_it_is_given() -> None:
    # Only train blocks reach the fit: no validation split to read.
    assert list(inspect.signature(OffsetHead.fit).parameters) == ["spec", "rows", "fitting", "max_epochs"]
    assert [field.name for field in dataclasses.fields(TrainingRows)] == ["blocks", "labels", "num_classes", "scored"]
    learn, held = held_out_rows(1000, seed=7)
    assert len(held) == 100 and np.array_equal(np.sort(np.concatenate([learn, held])), np.arange(1000))
    assert np.array_equal(held, held_out_rows(1000, seed=7)[1]) and not np.array_equal(held, held_out_rows(1000, seed=8)[1])


def test_saved_and_loaded_it_scores_the_same(tmp_path: Path) -> None:
    blocks, labels = problem(400, seed=4)
    head = OffsetHead.fit(HYBRID_LINEAR, TrainingRows(blocks, labels, CLASSES), SEED_7, max_epochs=2)
    (tmp_path / "xgb").mkdir()
    head.save(tmp_path / "xgb")
    assert head_class(HYBRID_LINEAR).files(HYBRID_LINEAR) == ["xgb/hybrid_linear.safetensors"]
    loaded = head_class(HYBRID_LINEAR).load(tmp_path, HYBRID_LINEAR, {})
    for name, value in head.weights.items():
        assert torch.equal(value, loaded.weights[name]), name
    np.testing.assert_array_equal(loaded.predict_proba(blocks, {}), head.predict_proba(blocks, {}))
