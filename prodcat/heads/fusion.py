"""The fusion variant: a weighted average of its members' probabilities, the weights fitted on validation.

The champion stage fits the weights (`cross_fitted_fusion`) and records them in models/champion.json
(and the bundle in its manifest); `FusionHead` averages with them. It reads no features and no file
of its own, only the probabilities of the member variants scored before it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from sklearn.model_selection import StratifiedKFold

from prodcat.core.errors import InputError
from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.base import Head

FUSION_WEIGHT_STEP = 0.1
NO_WEIGHTS = "the fusion variant needs its weights (models/champion.json, from the champion stage)"


@dataclass(frozen=True)
class FusionHead(Head):
    """The members' probabilities averaged with the champion stage's weights (a member weighted 0 is not read)."""

    weights: dict[str, float]

    reads_other_variants = True
    # Its weights are part of the champion's choice: cross-fitted on validation (`cross_fitted_fusion`), recorded in champion.json.
    fitted_in = "champion"

    @classmethod
    def files(cls, spec: Variant) -> list[str]:
        return []

    @classmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> FusionHead:
        if choice.get("fusion_weights") is None:
            raise InputError(NO_WEIGHTS)
        return cls(choice["fusion_weights"])

    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        return fuse(scored, self.weights)


def scored_variants(name: str, fusion_weights: dict[str, float] | None) -> list[str]:
    """What scoring `name` runs: the fusion's members with a weight, then the fusion; any other variant alone."""
    if name != "fusion":
        return [name]
    if fusion_weights is None:
        raise InputError(NO_WEIGHTS)
    return [*(member for member, weight in fusion_weights.items() if weight > 0), name]


def fuse(probabilities: Mapping[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return cast(np.ndarray, sum(weight * probabilities[name] for name, weight in weights.items() if weight > 0))


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return -float(np.log(probabilities[np.arange(len(labels)), labels].clip(min=1e-9)).mean())


def simplex_grid(members: int, step: float = FUSION_WEIGHT_STEP) -> list[tuple[float, ...]]:
    """Every weight vector on the simplex with the given step: (1, 0, 0), (0.9, 0.1, 0), ..."""
    units = round(1 / step)
    return [
        tuple(count / units for count in counts) for counts in itertools.product(range(units + 1), repeat=members) if sum(counts) == units
    ]


def fit_fusion_weights(probabilities: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Member weights with the least log-loss on `labels`: a smooth target, unlike accuracy, so few rows decide less."""
    names = list(probabilities)
    best = min(simplex_grid(len(names)), key=lambda w: log_loss(fuse(probabilities, dict(zip(names, w, strict=True))), labels))
    return dict(zip(names, best, strict=True))


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
        halves = [(order[len(order) // 2 :], order[: len(order) // 2]), (order[: len(order) // 2], order[len(order) // 2 :])]
    for fit_rows, held_rows in halves:
        weights = fit_fusion_weights({n: p[fit_rows] for n, p in probabilities.items()}, labels[fit_rows])
        honest[held_rows] = fuse({n: p[held_rows] for n, p in probabilities.items()}, weights)
    return fit_fusion_weights(probabilities, labels), honest
