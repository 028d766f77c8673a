"""Feature matrices on disk: float32 `.npy`, loaded without pickle.

Apart from the torch encoding code, so stages that only read or write matrices (train_sparse,
champion, evaluate) do not depend on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_matrix(path_without_suffix: Path, matrix: np.ndarray) -> None:
    """A float32 feature matrix as `.npy`, loaded back without pickle."""
    path_without_suffix.parent.mkdir(parents=True, exist_ok=True)
    np.save(path_without_suffix.with_suffix(".npy"), np.asarray(matrix, dtype=np.float32), allow_pickle=False)


def load_matrix(path_without_suffix: Path) -> np.ndarray:
    return np.load(path_without_suffix.with_suffix(".npy"), allow_pickle=False)
