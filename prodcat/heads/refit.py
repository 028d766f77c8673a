"""Refit after the choice: the champion's parts that need no fine-tuning, fitted again on train + validation.

Once validation has chosen the champion and the fusion weights, its rows have done their job as a
judge and can teach. The sparse model (its out-of-fold scores now over train + validation, whole
groups per fold when grouped), the boosters and the offset heads the champion reads are fitted again
on both splits with the same settings. The encoders and the softmax head stay as fine-tuned on
train, the fusion weights and the categorical codes as chosen. No test row is read.

`models/refit/` mirrors `models/`: `sparse/`, `xgb/<variant>.ubj` or `.safetensors`, `xgb/tabular.json`
(the train codes, so the folder loads alone), and `refit.json` (the champion, what was refitted, rows).
`evaluate` scores the champion both ways (`prodcat.heads.scoring.refitted`); `bundle` packs the refitted files in place of the others.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prodcat.core.params import SparseParams
from prodcat.core.variants import sparse_needed
from prodcat.features.blocks import FeatureBlocks
from prodcat.heads.base import FittedHead, Fitting, TrainingRows, existing
from prodcat.heads.registry import fit_heads
from prodcat.heads.sparse import SPARSE_FOLDER, SparseModel, fit_sparse, fit_temperature, out_of_fold_scores
from prodcat.heads.xgboost import BOOSTERS, TABULAR_FILE

REFIT_FOLDER = "refit"  # the refit stage's folder below models/
REFIT_FILE = "refit.json"


@dataclass(frozen=True)
class Refit:
    """The champion's refitted parts: the sparse model (when one of them reads its scores) and the heads."""

    sparse: SparseModel | None
    heads: dict[str, FittedHead]

    def save(self, folder: Path, models: Path) -> None:
        """Into `folder` in the models/ layout; the train categorical codes from `models` beside the boosters."""
        (folder / BOOSTERS).mkdir(parents=True, exist_ok=True)
        shutil.copy2(existing(models / BOOSTERS / TABULAR_FILE), folder / BOOSTERS / TABULAR_FILE)
        if self.sparse is not None:
            self.sparse.save(folder / SPARSE_FOLDER)
        for head in self.heads.values():
            head.save(folder / BOOSTERS)


def refit(
    names: list[str],
    texts: list[str],
    labels: np.ndarray,
    groups: np.ndarray | None,
    embeddings: Mapping[str, np.ndarray],
    tabular: np.ndarray,
    num_classes: int,
    sparse_params: SparseParams,
    seed: int,
    fitting: Fitting,
) -> Refit:
    """Fit `names` (refitted variants, prodcat.heads.registry.refitted_variants) on the given rows as train_sparse and train_xgb fit them on train.

    The heads read out-of-fold sparse scores of these rows, as in training; the sparse model and
    its calibration come from all of them. The heads are fitted through the registry, like train_xgb's.
    """
    sparse, scores = None, None
    if sparse_needed(names):
        scores = out_of_fold_scores(texts, labels, groups, num_classes, sparse_params, seed)
        sparse = fit_sparse(texts, labels, num_classes, sparse_params, fit_temperature(scores, labels))
    rows = TrainingRows(FeatureBlocks(dict(embeddings), scores, tabular), labels, num_classes)
    return Refit(sparse, fit_heads(names, rows, fitting))
