"""Bootstrap confidence intervals for test accuracy: which differences between variants are real.

A test split of a few hundred rows moves a point per handful of rows, and rows of one product group
(PriceRunner's clusters) are not independent: the resampling unit is the group where the split has
groups, the row otherwise (each row its own group). Percentile intervals over `rounds` resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

ROUNDS = 10_000
CHUNK = 500  # resamples drawn at once: rounds x groups integers stay small


def group_totals(values: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per resampling unit: the sum of `values` (one column per compared series) and the row count."""
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    if groups is None:
        return values, np.ones(len(values))
    _, unit = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.zeros((unit.max() + 1, values.shape[1]))
    np.add.at(sums, unit, values)
    return sums, np.bincount(unit).astype(float)


def resampled_means(values: np.ndarray, groups: np.ndarray | None, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """Row-weighted means of `values` (rows, series) over resamples of the units, CHUNK resamples at a time."""
    sums, counts = group_totals(values, groups)
    generator = np.random.default_rng(seed)
    for start in range(0, rounds, CHUNK):
        picked = generator.integers(0, len(counts), size=(min(CHUNK, rounds - start), len(counts)))
        yield sums[picked].sum(axis=1) / counts[picked].sum(axis=1)[:, None]


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def accuracy_interval(
    correct: np.ndarray, groups: np.ndarray | None = None, level: float = 0.95, rounds: int = ROUNDS, seed: int = 0
) -> tuple[float, float]:
    """The `level` bootstrap interval of the share of `correct` rows."""
    samples = np.concatenate([means[:, 0] for means in resampled_means(np.asarray(correct), groups, rounds, seed)])
    return percentile_interval(samples, level)


def paired_difference_interval(
    correct: np.ndarray,
    other_correct: np.ndarray,
    groups: np.ndarray | None = None,
    level: float = 0.95,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> tuple[float, float, float]:
    """accuracy(correct) - accuracy(other_correct) on the same rows, and its `level` interval from resampling both together.

    Paired: each resample takes the same rows for both, so what the two get right together cancels and
    the interval is far narrower than two separate intervals suggest.
    """
    both = np.column_stack([np.asarray(correct, dtype=float), np.asarray(other_correct, dtype=float)])
    samples = np.concatenate([means[:, 0] - means[:, 1] for means in resampled_means(both, groups, rounds, seed)])
    difference = float(both[:, 0].mean() - both[:, 1].mean())
    return (difference, *percentile_interval(samples, level))
