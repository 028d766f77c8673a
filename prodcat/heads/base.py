"""The one type every head is: what it reads, which trained files it needs, how it turns features into class probabilities.

A variant is a feature set plus a head (prodcat.core.variants names the head). Stages, the bundle
and prediction handle every head alike through `Head`, so a new head is one subclass and one line
of `prodcat.heads.registry.HEADS`; nothing else dispatches on the head's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from prodcat.core.errors import InputError
from prodcat.core.variants import Variant


@dataclass(frozen=True)
class FeatureBlocks:
    """What the heads read for a set of rows: embeddings per encoder, sparse class scores, tabular columns."""

    embeddings: dict[str, np.ndarray]
    sparse_scores: np.ndarray | None
    tabular: np.ndarray


class Head(ABC):
    """One variant's trained classifier, as scoring sees it: its files below `models/`, loading them, probabilities."""

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


def existing(path: Path) -> Path:
    """`path` if it exists; else an InputError that names it and the command that makes it."""
    if not path.exists():
        raise InputError(f"{path} is missing: run `dvc repro` first")
    return path
