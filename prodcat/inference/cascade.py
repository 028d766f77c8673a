"""The cascade: the calibrated sparse model answers the rows it is sure of, the encoder-based champion the rest.

Nearly all of the champion's scoring cost is the transformer encoder, while the TF-IDF model alone is
right on most rows it is confident about. The cascade stage fits the threshold on the validation split
(`cascade_threshold`): the lowest top probability at which answering with the sparse model costs at
most `cascade.max_accuracy_drop` of the champion's accuracy. The bundle records it, and
`cascade_probabilities` scores new rows with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CASCADE_MODEL = "sparse"  # the first stage: the variant whose calibrated probabilities answer the confident rows


@dataclass(frozen=True)
class CascadeFit:
    """The threshold chosen on validation (None: the sparse model answers no row) and what it does there."""

    threshold: float | None
    sparse_share: float  # share of validation rows the sparse model answers
    accuracy_champion: float  # the champion alone
    accuracy_cascade: float


def cascade_threshold(sparse: np.ndarray, champion: np.ndarray, truth: np.ndarray, max_accuracy_drop: float) -> CascadeFit:
    """The lowest threshold on the sparse model's top probability whose validation accuracy is at most `max_accuracy_drop` below the champion's.

    Rows whose top sparse probability is >= the threshold take the sparse model's answer. Candidates are the
    rows' own top probabilities (a lower one would answer the same rows); the accuracy is not monotone in
    the threshold, so every candidate is checked and the lowest allowed one wins.
    """
    confidence = sparse.max(axis=1)
    sparse_right = (sparse.argmax(axis=1) == truth).astype(int)
    champion_right = (champion.argmax(axis=1) == truth).astype(int)
    order = np.argsort(-confidence, kind="stable")
    # Rows the k most confident rows gain (or lose, negative) when the sparse model answers them.
    gain = np.concatenate([[0], np.cumsum(sparse_right[order] - champion_right[order])])
    ends = np.concatenate([np.flatnonzero(np.diff(confidence[order]) != 0) + 1, [len(order)]])  # k at the end of each tie
    allowed = [k for k in ends if -gain[k] <= max_accuracy_drop * len(truth) + 1e-9]
    answered = max(allowed, default=0)
    return CascadeFit(
        threshold=float(confidence[order[answered - 1]]) if answered else None,
        sparse_share=answered / len(truth),
        accuracy_champion=float(champion_right.mean()),
        accuracy_cascade=float((champion_right.sum() + gain[answered]) / len(truth)),
    )


def cascade_probabilities(sparse: np.ndarray, threshold: float, champion: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The sparse model's probabilities where its top one is >= `threshold`, `champion(rows)` (the rest's probabilities) elsewhere.

    The champion is called once, on the rows left, and not at all when every row is confident.
    """
    rest = np.flatnonzero(sparse.max(axis=1) < threshold)
    if not len(rest):
        return sparse
    scored = champion(rest)
    result = sparse.astype(np.result_type(sparse, scored))
    result[rest] = scored
    return result
