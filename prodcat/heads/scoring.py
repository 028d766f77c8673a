"""Class probabilities of every variant from its feature blocks, and the fusion of several variants.

The same functions score the stored validation and test features (stages champion and evaluate)
and freshly computed features of new products (prediction), so a variant means one thing everywhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold

from prodcat.heads.xgboost import TabularEncoding, design_matrix, predict_proba
from prodcat.encoders.matrices import load_matrix
from prodcat.core.errors import InputError
from prodcat.core.io import read_json
from prodcat.heads.softmax import head_probabilities, load_head
from prodcat.heads.linear import load_temperature
from prodcat.heads.linear import probabilities as sparse_probabilities
from prodcat.core.variants import encoders_needed, sparse_needed, variant

BOOSTERS = "xgb"
TABULAR_FILE = "tabular.json"
FUSION_WEIGHT_STEP = 0.1


@dataclass(frozen=True)
class FeatureBlocks:
    """What the heads read for a set of rows: embeddings per encoder, sparse class scores, tabular columns."""

    embeddings: dict[str, np.ndarray]
    sparse_scores: np.ndarray | None
    tabular: np.ndarray


def stored_blocks(frame: pd.DataFrame, split: str, names: list[str], embeddings: Path, sparse_scores: Path, encoding: TabularEncoding) -> FeatureBlocks:
    """The feature blocks the variants `names` read for one split, from the embed and train_sparse outputs."""
    return FeatureBlocks(
        embeddings={encoder: load_matrix(embeddings / encoder / split) for encoder in encoders_needed(names)},
        sparse_scores=load_matrix(sparse_scores / split) if sparse_needed(names) else None,
        tabular=encoding.transform(frame),
    )


def text_features(name: str, blocks: FeatureBlocks) -> np.ndarray:
    """The text block an XGBoost variant reads: its encoder's embedding, then the sparse scores if it uses them."""
    spec = variant(name)
    parts = ([blocks.embeddings[spec.encoder]] if spec.encoder else []) + ([blocks.sparse_scores] if spec.sparse_scores else [])
    return np.hstack(parts).astype(np.float32)


@dataclass
class TrainedHeads:
    """The heads `dvc repro` trained, loaded from safe formats (XGBoost UBJ, safetensors, JSON)."""

    encoding: TabularEncoding
    boosters: dict[str, xgb.Booster] = field(default_factory=dict)
    softmax_head: dict[str, torch.Tensor] | None = None
    sparse_temperature: float | None = None
    fusion_weights: dict[str, float] | None = None

    @classmethod
    def load(cls, models: Path, names: list[str], fusion_weights: dict[str, float] | None = None) -> TrainedHeads:
        """The heads of `names` from the models folder; a missing artifact is named with the command that makes it."""
        heads = cls(encoding=TabularEncoding.from_json(read_json(_existing(models / BOOSTERS / TABULAR_FILE))))
        for name in names:
            head = variant(name).head
            if head == "xgboost":
                heads.boosters[name] = xgb.Booster(model_file=str(_existing(models / BOOSTERS / f"{name}.ubj")))
            elif head == "softmax":
                heads.softmax_head = load_head(models / "finetuned")
            elif head == "linear":
                heads.sparse_temperature = load_temperature(_existing(models / "sparse"))
            elif head == "fusion":
                if fusion_weights is None:
                    raise InputError("the fusion variant needs its weights (models/champion.json, from the champion stage)")
                heads.fusion_weights = fusion_weights
        return heads


def _existing(path: Path) -> Path:
    if not path.exists():
        raise InputError(f"{path} is missing: run `dvc repro` first")
    return path


def variant_probabilities(names: list[str], blocks: FeatureBlocks, heads: TrainedHeads) -> dict[str, np.ndarray]:
    """(rows, classes) probabilities per variant; fusion last, from its members' probabilities."""
    probabilities: dict[str, np.ndarray] = {}
    for name in sorted(names, key=lambda n: variant(n).head == "fusion"):
        head = variant(name).head
        if head == "xgboost":
            matrix = design_matrix(text_features(name, blocks), blocks.tabular, heads.encoding)
            probabilities[name] = predict_proba(heads.boosters[name], matrix)
        elif head == "linear":
            probabilities[name] = sparse_probabilities(blocks.sparse_scores, heads.sparse_temperature)
        elif head == "softmax":
            probabilities[name] = head_probabilities(heads.softmax_head, blocks.embeddings["finetuned"])
        else:
            probabilities[name] = fuse(probabilities, heads.fusion_weights)
    return probabilities


def fuse(probabilities: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(weight * probabilities[name] for name, weight in weights.items() if weight > 0)


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return -float(np.log(probabilities[np.arange(len(labels)), labels].clip(min=1e-9)).mean())


def simplex_grid(members: int, step: float = FUSION_WEIGHT_STEP) -> list[tuple[float, ...]]:
    """Every weight vector on the simplex with the given step: (1, 0, 0), (0.9, 0.1, 0), ..."""
    units = round(1 / step)
    return [
        tuple(count / units for count in counts)
        for counts in itertools.product(range(units + 1), repeat=members)
        if sum(counts) == units
    ]


def fit_fusion_weights(probabilities: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Member weights with the least log-loss on `labels`: a smooth target, unlike accuracy, so few rows decide less."""
    names = list(probabilities)
    best = min(simplex_grid(len(names)), key=lambda w: log_loss(fuse(probabilities, dict(zip(names, w))), labels))
    return dict(zip(names, best))


def cross_fitted_fusion(probabilities: dict[str, np.ndarray], labels: np.ndarray, seed: int) -> tuple[dict[str, float], np.ndarray]:
    """Fusion weights fitted on all validation rows, and validation probabilities that are honest about them.

    Choosing weights on the rows that then score the fusion would flatter it against variants that
    have nothing to tune there; so each half of the validation split is scored with weights fitted
    on the other half, and the champion is chosen on those scores.
    """
    honest = np.zeros_like(next(iter(probabilities.values())))
    if np.unique(labels, return_counts=True)[1].min() >= 2:
        halves = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed).split(labels, labels)
    else:  # a class with one validation row cannot be stratified: plain halves
        order = np.random.default_rng(seed).permutation(len(labels))
        halves = [(order[len(order) // 2:], order[: len(order) // 2]), (order[: len(order) // 2], order[len(order) // 2:])]
    for fit_rows, held_rows in halves:
        weights = fit_fusion_weights({n: p[fit_rows] for n, p in probabilities.items()}, labels[fit_rows])
        honest[held_rows] = fuse({n: p[held_rows] for n, p in probabilities.items()}, weights)
    return fit_fusion_weights(probabilities, labels), honest


def choose_champion(scores: dict[str, dict[str, float]]) -> str:
    """The variant with the best validation accuracy, then macro-F1; a tie goes to the one listed first."""
    return max(scores, key=lambda name: (scores[name]["accuracy"], scores[name]["macro_f1"]))
