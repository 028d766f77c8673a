"""The one type every head is: what it reads, which trained files it needs, where it is fitted, how it turns features into class probabilities.

A variant is a feature set plus a head (prodcat.core.variants names the head). Stages, the bundle
and prediction handle every head alike through `Head`, and a stage that fits heads asks the registry
(`prodcat.heads.registry`) for those it fits: a new head is one subclass and one line of
`prodcat.heads.registry.HEADS`; nothing else dispatches on the head's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from prodcat.core.errors import InputError
from prodcat.core.params import TrainXgbParams
from prodcat.core.variants import Variant
from prodcat.features.blocks import FeatureBlocks
from prodcat.features.tabular import TabularEncoding

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class TrainingRows:
    """The rows a head learns from: their feature blocks, labels (class indices), and the probabilities of variants scored before."""

    blocks: FeatureBlocks
    labels: np.ndarray
    num_classes: int
    scored: Mapping[str, np.ndarray] = field(default_factory=dict)  # what the fusion weighs: its members' probabilities


@dataclass(frozen=True)
class Fitting:
    """What the stage that fits a head lends it: the categorical codes of the tabular block, the params, its compute."""

    encoding: TabularEncoding
    train_xgb: TrainXgbParams
    threads: int = 1
    client: Client | None = None  # a Dask cluster to boost on, in shards of `shard_rows` rows
    shard_rows: int = 0


class Head(ABC):
    """One variant's trained classifier, as scoring sees it: its files below `models/`, loading them, probabilities."""

    # The stage that fits the head. A `FittedHead` is fitted there through the registry from the rows'
    # feature blocks; any other head says here where it is trained (the softmax head: with its encoder).
    fitted_in: ClassVar[str]
    # Whether the refit stage fits it again on train + validation once the champion is chosen.
    refitted: ClassVar[bool] = False
    # A head that combines other variants' probabilities (the fusion) is scored after them.
    reads_other_variants: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def files(cls, spec: Variant) -> list[str]:
        """The paths below `models/` that `load` reads for variant `spec`: what a bundle of it must hold."""

    @classmethod
    @abstractmethod
    def load(cls, models: Path, spec: Variant, choice: Mapping[str, Any]) -> Head:
        """The trained head of `spec` from `models` (or a bundle); `choice` is what the champion stage chose (the fusion weights)."""

    @abstractmethod
    def predict_proba(self, blocks: FeatureBlocks, scored: Mapping[str, np.ndarray]) -> np.ndarray:
        """(rows, classes) probabilities from `blocks`; `scored` holds the probabilities of the variants scored before this one."""


class FittedHead(Head):
    """A head that fits itself on the rows' feature blocks, as predict_proba reads them: the stage `fitted_in` names calls `fit`."""

    @classmethod
    @abstractmethod
    def fit(cls, spec: Variant, rows: TrainingRows, fitting: Fitting) -> FittedHead:
        """The head of variant `spec` fitted on `rows` with what the stage lends (`fitting`)."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the head's files into the folder of the stage that fits it (its `files` say where that is below `models/`)."""


def existing(path: Path) -> Path:
    """`path` if it exists; else an InputError that names it and the command that makes it."""
    if not path.exists():
        raise InputError(f"{path} is missing: run `dvc repro` first")
    return path
