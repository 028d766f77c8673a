"""Class probabilities of every variant from its feature blocks, through its head, and the champion rule.

The same functions score the stored validation and test features (stages champion and evaluate)
and freshly computed features of new products (prediction), so a variant means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prodcat.core.io import read_json
from prodcat.core.variants import variant
from prodcat.heads.base import FeatureBlocks, Head, existing
from prodcat.heads.registry import head_class
from prodcat.heads.xgboost import BOOSTERS, TABULAR_FILE, TabularEncoding


@dataclass
class TrainedHeads:
    """The heads `dvc repro` trained, per variant, and the categorical codes that make every variant's tabular block."""

    encoding: TabularEncoding
    by_variant: dict[str, Head] = field(default_factory=dict)

    @classmethod
    def load(cls, models: Path, names: list[str], choice: Mapping[str, Any] | None = None) -> TrainedHeads:
        """The heads of `names` from the models folder (or a bundle); `choice` is the champion stage's (the fusion's weights)."""
        encoding = TabularEncoding.from_json(read_json(existing(models / BOOSTERS / TABULAR_FILE)))
        return cls(encoding, {name: head_class(variant(name)).load(models, variant(name), choice or {}) for name in names})


def variant_probabilities(names: list[str], blocks: FeatureBlocks, heads: TrainedHeads) -> dict[str, np.ndarray]:
    """(rows, classes) probabilities per variant; a head that reads other variants (the fusion) after them."""
    probabilities: dict[str, np.ndarray] = {}
    for name in sorted(names, key=lambda n: heads.by_variant[n].reads_other_variants):
        probabilities[name] = heads.by_variant[name].predict_proba(blocks, probabilities)
    return probabilities


def choose_champion(scores: dict[str, dict[str, float]]) -> str:
    """The variant with the best validation accuracy, then macro-F1; a tie goes to the one listed first."""
    return max(scores, key=lambda name: (scores[name]["accuracy"], scores[name]["macro_f1"]))
