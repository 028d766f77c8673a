"""Scoring raw products with a trained variant: the same features as training, top-k categories, path levels.

A label is a category path, its levels joined with LABEL_SEPARATOR ("Dairy Eggs | Yogurt"; a flat label
is a path of one level). prodcat.inference.bundle assembles the Predictor from the model bundle; this
module only scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prodcat.data.labels import LABEL_SEPARATOR, label_at_level
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.scoring import TrainedHeads, variant_probabilities
from prodcat.heads.sparse import SparseModel, probabilities
from prodcat.inference.cascade import cascade_probabilities


def label_path(label: str) -> list[str]:
    """ "Dairy Eggs | Yogurt" -> ["Dairy Eggs", "Yogurt"]; a flat label is a path of one level."""
    return label.split(LABEL_SEPARATOR)


def label_levels(labels: Sequence[str]) -> int:
    """Levels of the longest label path: how many level columns a prediction carries."""
    return max(len(label_path(label)) for label in labels)


def path_prefix(label: str, level: int) -> str | None:
    """The label's path down to `level` ("A | x" at level 0 is "A"); None when the path is shorter.

    Prefixes compare whole levels: "AB | y" is not under "A".
    """
    return label_at_level(label, level) if level < len(label_path(label)) else None


def prefix_groups(labels: Sequence[str], level: int) -> tuple[np.ndarray, np.ndarray]:
    """(classes, prefixes) membership of each class in its level-`level` prefix, and each class's prefix index (-1: path too short)."""
    prefixes = [path_prefix(label, level) for label in labels]
    index = {prefix: position for position, prefix in enumerate(dict.fromkeys(p for p in prefixes if p is not None))}
    group = np.array([-1 if prefix is None else index[prefix] for prefix in prefixes], dtype=np.int64)
    members = np.zeros((len(labels), len(index)))
    members[np.flatnonzero(group >= 0), group[group >= 0]] = 1.0
    return members, group


def level_probabilities(probabilities: np.ndarray, labels: Sequence[str], predicted: np.ndarray) -> np.ndarray:
    """(rows, label depth): P(level-j prefix of each row's predicted class), the summed probability of every class under it.

    The classes are the leaves of a tree, so a coarser level is surer than the label: P("A") = P("A | x") + P("A | y").
    NaN past the end of a predicted path that is shorter than the deepest label.
    """
    rows = np.arange(len(probabilities))
    columns = []
    for level in range(label_levels(labels)):
        members, group = prefix_groups(labels, level)
        chosen = group[predicted]
        sums = probabilities @ members.astype(probabilities.dtype)  # float32 stays float32: a flat label's level 0 is its top-1
        columns.append(np.where(chosen >= 0, sums[rows, np.maximum(chosen, 0)], np.nan))
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class Predictor:
    """One variant and everything it needs to score raw products: encoders, sparse model, heads, label names.

    With `cascade_threshold` set, the sparse model answers the rows whose top probability reaches it and
    the variant scores only the rest (prodcat/inference/cascade.py).
    """

    name: str
    labels: list[str]
    scored: list[str]  # the variant, after its fusion members if it is the fusion
    encoders: dict[str, Callable[[list[str]], np.ndarray]]
    sparse: SparseModel | None
    heads: TrainedHeads
    cascade_threshold: float | None = None

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        texts = features["text"].tolist()
        sparse_scores = self.sparse.scores(texts) if self.sparse else None
        if self.cascade_threshold is None:
            return self.variant_probabilities(features, texts, sparse_scores)
        assert self.sparse is not None and sparse_scores is not None  # a cascade answers with the sparse model first
        return cascade_probabilities(
            probabilities(sparse_scores, self.sparse.temperature),
            self.cascade_threshold,
            lambda rows: self.variant_probabilities(features.iloc[rows], [texts[row] for row in rows], sparse_scores[rows]),
        )

    def variant_probabilities(self, features: pd.DataFrame, texts: list[str], sparse_scores: np.ndarray | None) -> np.ndarray:
        """The variant's own probabilities: every row through its encoders and heads."""
        blocks = FeatureBlocks(
            embeddings={encoder: encode(texts) for encoder, encode in self.encoders.items()},
            sparse_scores=sparse_scores,
            tabular=self.heads.encoding.transform(features),
        )
        return variant_probabilities(self.scored, blocks, self.heads)[self.name]


def predict(predictor: Predictor, features: pd.DataFrame, top_k: int = 3) -> Predictions:
    """The predicted category, the top-k categories and the predicted path's levels of each product (`Predictions`)."""
    return Predictions.ranked(features["id"].to_numpy(), predictor.probabilities(features), predictor.labels, top_k)


@dataclass(frozen=True)
class Predictions:
    """Scored products as arrays, one row per product: what batch prediction writes (`to_frame`) and the service answers.

    Probabilities are rounded to 4 decimals, as written; `levels` is NaN past the end of a predicted path that is
    shorter than the deepest label.
    """

    ids: np.ndarray  # (rows,) the products' ids
    classes: np.ndarray  # (classes,) the label names, object
    top_classes: np.ndarray  # (rows, k) class indices, the most probable first
    top_probabilities: np.ndarray  # (rows, k)
    levels: np.ndarray  # (rows, label depth): P(level-j prefix of the predicted label), `level_probabilities`

    @classmethod
    def ranked(cls, ids: np.ndarray, probabilities: np.ndarray, labels: Sequence[str], top_k: int = 3) -> Predictions:
        """The top-k classes of each row of `probabilities` (rows, classes over `labels`) and the predicted path's levels."""
        ranked = np.argsort(-probabilities, axis=1)[:, :top_k]
        top = np.take_along_axis(probabilities, ranked, axis=1).round(4)
        levels = level_probabilities(probabilities, labels, ranked[:, 0]).round(4)
        return cls(ids, np.asarray(labels, dtype=object), ranked, top, levels)

    def __len__(self) -> int:
        return len(self.top_classes)

    @property
    def labels(self) -> np.ndarray:
        """The predicted label of each row: its top-1 class."""
        return self.classes[self.top_classes[:, 0]]

    def rows(self, start: int, stop: int) -> Predictions:
        """Rows `start` to `stop` (exclusive): one request's share of a micro-batch."""
        return Predictions(
            self.ids[start:stop], self.classes, self.top_classes[start:stop], self.top_probabilities[start:stop], self.levels[start:stop]
        )

    def to_frame(self) -> pd.DataFrame:
        """id, predicted, top<k>_category and top<k>_probability, then level_<j> and level_<j>_probability for each level.

        For flat labels level_0 is the predicted label and its probability the top-1's; a level past the end of a
        shorter predicted path is missing. The level columns are text even when missing, so every chunk's schema matches.
        """
        result = pd.DataFrame({"id": self.ids, "predicted": self.labels})
        for rank in range(self.top_classes.shape[1]):
            result[f"top{rank + 1}_category"] = self.classes[self.top_classes[:, rank]]
            result[f"top{rank + 1}_probability"] = self.top_probabilities[:, rank]
        paths = [label_path(label) for label in result["predicted"]]
        for level in range(self.levels.shape[1]):
            result[f"level_{level}"] = pd.Series([path[level] if level < len(path) else None for path in paths], dtype="str")
            result[f"level_{level}_probability"] = self.levels[:, level]
        return result
