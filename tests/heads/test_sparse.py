"""The sparse model: word + char n-grams, out-of-fold scores that never come from a model that saw the row, safe storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prodcat.core.params import SparseParams
from prodcat.heads.sparse import (
    SparseModel,
    fit_sparse,
    fit_temperature,
    fit_vectorizers,
    out_of_fold_scores,
    probabilities,
    vectorizer_from_json,
    vectorizer_to_json,
)

TEXTS = ["red lego bricks for kids", "stainless steel water bottle", "water bottle for kids", "red steel bricks"]


def memorisable(rows: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Texts that are one unique token each, with random labels: only a model that saw a row can get it right."""
    labels = np.random.default_rng(seed).integers(0, 3, rows)
    return [f"item{i:04d}x" for i in range(rows)], labels


def test_vectorizers_cover_words_and_characters_and_rebuild_from_json() -> None:
    word, char = fit_vectorizers(TEXTS, SparseParams(min_df=1, char_ngrams=(3, 4)))
    assert "water bottle" in word.vocabulary_ and " re" in char.vocabulary_ and "lego" in char.vocabulary_
    restored = vectorizer_from_json(json.loads(json.dumps(vectorizer_to_json(char))))
    new = ["kids water bricks", "nothing known here"]
    assert (char.transform(new) != restored.transform(new)).nnz == 0


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_row() -> None:
    texts, labels = memorisable(150)
    params = SparseParams(min_df=1, folds=5, C=10.0, word_ngrams=(1, 1), char_ngrams=(8, 8))
    in_sample = fit_sparse(texts, labels, 3, params).scores(texts).argmax(axis=1)
    assert (in_sample == labels).mean() > 0.95  # a model that saw the rows remembers them ...
    oof = out_of_fold_scores(texts, labels, None, 3, params, seed=0)
    assert oof.shape == (150, 3) and (oof.argmax(axis=1) == labels).mean() < 0.6  # ... out-of-fold ones cannot


def test_grouped_out_of_fold_keeps_a_group_in_one_fold() -> None:
    """Rows of a group share a token and a label: folds that split a group would leak it."""
    groups = np.repeat(np.arange(60), 3)
    labels = np.random.default_rng(1).integers(0, 3, 60)[groups]
    texts = [f"group{g:03d}z" for g in groups]
    params = SparseParams(min_df=1, folds=5, C=10.0, word_ngrams=(1, 1), char_ngrams=(8, 8))
    leaky = out_of_fold_scores(texts, labels, None, 3, params, seed=0).argmax(axis=1)
    grouped = out_of_fold_scores(texts, labels, groups, 3, params, seed=0).argmax(axis=1)
    assert (leaky == labels).mean() > 0.9
    assert (grouped == labels).mean() < 0.6


def test_a_class_missing_from_a_fold_is_never_the_top_score() -> None:
    texts = ["apple red", "apple green", "pear soft", "pear hard", "plum"]
    model = fit_sparse(texts, np.array([0, 0, 1, 1, 1]), 3, SparseParams(min_df=1))
    scores = model.scores(["plum", "apple"])
    assert scores.shape == (2, 3) and (scores.argmax(axis=1) != 2).all()
    assert model.scores(["apple red"]).argmax() == 0  # binary problems give one score per class too


def test_saved_model_scores_identically(tmp_path: Path) -> None:
    model = fit_sparse(TEXTS * 3, np.array([0, 1, 1, 0] * 3), 2, SparseParams(min_df=1), temperature=2.5)
    model.save(tmp_path / "sparse")
    loaded = SparseModel.load(tmp_path / "sparse")
    assert loaded.temperature == pytest.approx(2.5)
    np.testing.assert_allclose(loaded.scores(["red water", "kids bricks"]), model.scores(["red water", "kids bricks"]), rtol=1e-6)
    assert not list((tmp_path / "sparse").glob("*.pkl"))


def test_temperature_recovers_the_scale_of_calibrated_scores() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 4))
    labels = np.array([rng.choice(4, p=p) for p in probabilities(logits, 1.0)])
    assert fit_temperature(logits / 2.0, labels) == pytest.approx(2.0, rel=0.15)
    assert probabilities(logits, 1.0).sum(axis=1) == pytest.approx(np.ones(4000))
