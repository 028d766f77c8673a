"""Class probabilities of every variant from its feature blocks, through its head, and of the refitted champion.

The same functions score the stored validation and test features (stages champion and evaluate)
and freshly computed features of new products (prediction), so a variant means one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prodcat.core.errors import InputError
from prodcat.core.io import read_json
from prodcat.core.variants import variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding
from prodcat.heads.base import Head, existing
from prodcat.heads.refit import REFIT_FILE, REFIT_FOLDER
from prodcat.heads.registry import head_class
from prodcat.heads.sparse import SPARSE_FOLDER, SparseModel
from prodcat.heads.xgboost import BOOSTERS, TABULAR_FILE


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


def refit_record(models: Path, champion: str) -> dict:
    """refit.json of `models/refit`, checked to be the refit of `champion` (a stale one is refused, never mixed in)."""
    record = read_json(existing(models / REFIT_FOLDER / REFIT_FILE))
    if record["champion"] != champion:
        raise InputError(f"{models / REFIT_FOLDER} refitted {record['champion']}, not the champion {champion}: run `dvc repro refit`")
    return record


def refitted(
    models: Path, scored: list[str], choice: Mapping[str, Any], heads: TrainedHeads, blocks: FeatureBlocks, texts: list[str]
) -> tuple[TrainedHeads, FeatureBlocks]:
    """The heads and feature blocks that score `scored` with the refitted parts in place of the train-fitted ones.

    `blocks` are the rows' stored blocks; their sparse scores are recomputed from `texts` by the refitted sparse model.
    """
    names = refit_record(models, choice["champion"])["variants"]
    folder = models / REFIT_FOLDER
    swapped: dict[str, Head] = {name: head_class(variant(name)).load(folder, variant(name), choice) for name in names}
    if (folder / SPARSE_FOLDER).is_dir():
        blocks = replace(blocks, sparse_scores=SparseModel.load(folder / SPARSE_FOLDER).scores(texts))
    return TrainedHeads(heads.encoding, {**{name: heads.by_variant[name] for name in scored}, **swapped}), blocks
