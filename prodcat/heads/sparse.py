"""The strong cheap baseline: word + character n-gram TF-IDF and a linear classifier.

It is the `sparse` variant on its own, and its class scores are a feature block of the `hybrid`
variant. For that, the scores of train rows come *out of fold*: each row is scored by a model
fitted on the other folds (whole groups per fold when the split is grouped), so the booster never
learns from scores of a model that saw the row. Validation, test and new rows are scored by the
model fitted on all train rows.

Saved without pickle: the vocabularies and idf weights as JSON, the linear weights as `.npz`.
`LinearHead` scores the `sparse` variant from the stored or freshly computed class scores; the
n-gram counting that speeds up scoring is prodcat.features.ngram_counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.svm import LinearSVC

from prodcat.core.io import read_json, write_json
from prodcat.core.params import SparseParams
from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.ngram_counts import fast_transform
from prodcat.heads.base import Head, existing

SPARSE_FOLDER = "sparse"  # the train_sparse stage's model folder below models/
VECTORIZERS_FILE = "vectorizers.json"
LINEAR_FILE = "linear.npz"


def fit_vectorizers(texts: list[str], params: SparseParams) -> list[TfidfVectorizer]:
    """Word and character n-gram TF-IDF (sublinear tf), fitted on the given texts only."""
    analyzers = [("word", params.word_ngrams), (params.char_analyzer, params.char_ngrams)]
    return [
        TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(ngrams),
            min_df=params.min_df,
            max_features=params.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        ).fit(texts)
        for analyzer, ngrams in analyzers
    ]


def transform(vectorizers: list[TfidfVectorizer], texts: list[str]) -> sp.csr_matrix:
    return sp.hstack([vectorizer.transform(texts) for vectorizer in vectorizers], format="csr")


def vectorizer_to_json(vectorizer: TfidfVectorizer) -> dict:
    return {
        "analyzer": vectorizer.analyzer,
        "ngram_range": list(vectorizer.ngram_range),
        "vocabulary": {term: int(index) for term, index in vectorizer.vocabulary_.items()},
        "idf": vectorizer.idf_.tolist(),
    }


def vectorizer_from_json(payload: dict) -> TfidfVectorizer:
    """Rebuild a fitted vectorizer from JSON: no pickle involved."""
    vectorizer = TfidfVectorizer(
        analyzer=payload["analyzer"], ngram_range=tuple(payload["ngram_range"]), sublinear_tf=True, dtype=np.float32
    )
    vectorizer.vocabulary_ = payload["vocabulary"]
    vectorizer.idf_ = np.asarray(payload["idf"], dtype=np.float32)
    return vectorizer


def fit_linear(features: sp.csr_matrix, labels: np.ndarray, num_classes: int, params: SparseParams) -> tuple[np.ndarray, np.ndarray]:
    """(weights (classes, features), intercepts (classes,)) of the linear classifier, one row per class of the label map.

    A class absent from `labels` (possible inside a fold) gets weights 0 and an intercept below every
    other class's, so it is never the top score.
    """
    model = LinearSVC(C=params.C, random_state=0) if params.classifier == "linear_svc" else LogisticRegression(C=params.C, max_iter=2000)
    model.fit(features, labels)
    coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if len(model.classes_) == 2 and coef.shape[0] == 1:  # binary: one decision function, as two opposite scores
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    weights = np.zeros((num_classes, features.shape[1]), dtype=np.float32)
    intercepts = np.full(num_classes, intercept.min() - 10.0, dtype=np.float32)
    weights[model.classes_], intercepts[model.classes_] = coef, intercept
    return weights, intercepts


@dataclass(frozen=True)
class SparseModel:
    vectorizers: list[TfidfVectorizer]
    weights: np.ndarray  # (classes, features)
    intercepts: np.ndarray  # (classes,)
    temperature: float  # calibrates scores into probabilities: softmax(temperature * scores)

    @cached_property
    def transforms(self) -> list[Callable[[list[str]], sp.csr_matrix]]:
        """Each vectorizer's `transform`, vectorised where prodcat/features/ngram_counts.py reproduces it (the same matrix, less CPU)."""
        return [fast_transform(vectorizer) or vectorizer.transform for vectorizer in self.vectorizers]

    def scores(self, texts: list[str]) -> np.ndarray:
        """(rows, classes) decision scores."""
        features = sp.hstack([transform(texts) for transform in self.transforms], format="csr")
        return np.asarray(features @ self.weights.T + self.intercepts, dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / VECTORIZERS_FILE, [vectorizer_to_json(v) for v in self.vectorizers])
        np.savez(folder / LINEAR_FILE, weights=self.weights, intercepts=self.intercepts, temperature=np.float32(self.temperature))

    @classmethod
    def load(cls, folder: Path) -> SparseModel:
        with np.load(folder / LINEAR_FILE, allow_pickle=False) as linear:
            weights, intercepts = linear["weights"], linear["intercepts"]
        return cls([vectorizer_from_json(v) for v in read_json(folder / VECTORIZERS_FILE)], weights, intercepts, load_temperature(folder))


def load_temperature(folder: Path) -> float:
    """The calibration scale alone: scoring stored sparse scores needs nothing else of the model."""
    with np.load(folder / LINEAR_FILE, allow_pickle=False) as linear:
        return float(linear["temperature"])


def fit_sparse(texts: list[str], labels: np.ndarray, num_classes: int, params: SparseParams, temperature: float = 1.0) -> SparseModel:
    vectorizers = fit_vectorizers(texts, params)
    weights, intercepts = fit_linear(transform(vectorizers, texts), labels, num_classes, params)
    return SparseModel(vectorizers, weights, intercepts, temperature)


def out_of_fold_scores(
    texts: list[str], labels: np.ndarray, groups: np.ndarray | None, num_classes: int, params: SparseParams, seed: int
) -> np.ndarray:
    """Each train row's scores from a model (vectorizers included) fitted on the other folds."""
    if groups is not None:
        folds = StratifiedGroupKFold(n_splits=params.folds, shuffle=True, random_state=seed).split(texts, labels, groups)
    else:
        folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=seed).split(texts, labels)
    scores = np.zeros((len(texts), num_classes), dtype=np.float32)
    for fit_rows, held_rows in folds:
        model = fit_sparse([texts[i] for i in fit_rows], labels[fit_rows], num_classes, params)
        scores[held_rows] = model.scores([texts[i] for i in held_rows])
    return scores


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> float:
    """The scale that makes softmax(scale * scores) best calibrated (least log-loss) on out-of-fold scores."""

    def log_loss(log_scale: float) -> float:
        return -float(log_softmax(np.exp(log_scale) * scores, axis=1)[np.arange(len(labels)), labels].mean())

    return float(np.exp(minimize_scalar(log_loss, bounds=(-5.0, 5.0), method="bounded").x))


def probabilities(scores: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(temperature * scores, axis=1).astype(np.float32)


@dataclass(frozen=True)
class LinearHead(Head):
    """The calibrated linear classifier on the sparse class scores: fitted by train_sparse on texts, scored here from the scores."""

    temperature: float

    # The sparse model's calibration (`fit_temperature` on out-of-fold scores), fitted and saved with the
    # model by train_sparse; refit fits the model again when a refitted variant reads its scores.
    fitted_in = "train_sparse"
    refitted = True

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return [f"{SPARSE_FOLDER}/{LINEAR_FILE}"]

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> LinearHead:
        return cls(load_temperature(existing(models / SPARSE_FOLDER / LINEAR_FILE).parent))

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        assert blocks.sparse_scores is not None  # the blocks hold what the scored variants read
        return probabilities(blocks.sparse_scores, self.temperature)
