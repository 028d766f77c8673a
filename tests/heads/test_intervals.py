"""Bootstrap intervals: known cases by value."""

from __future__ import annotations

import numpy as np
import pytest

from prodcat.heads.intervals import accuracy_interval, paired_difference_interval


def test_the_accuracy_interval_of_80_right_of_100_matches_the_normal_approximation():
    correct = np.array([1] * 80 + [0] * 20)
    low, high = accuracy_interval(correct)
    # 0.8 +- 1.96 * sqrt(0.8 * 0.2 / 100) = [0.7216, 0.8784]; percentiles of a discrete resample land on hundredths.
    assert low == pytest.approx(0.72, abs=0.011)
    assert high == pytest.approx(0.88, abs=0.011)


def test_all_right_has_no_width():
    assert accuracy_interval(np.ones(50)) == (1.0, 1.0)


def test_groups_are_resampled_whole_so_correlated_rows_widen_the_interval():
    # 10 groups of 10 identical rows: 8 groups right, 2 wrong. Row-wise it looks like 100 independent rows.
    correct = np.repeat([1] * 8 + [0] * 2, 10)
    groups = np.repeat(np.arange(10), 10)
    row_low, row_high = accuracy_interval(correct)
    group_low, group_high = accuracy_interval(correct, groups)
    assert (row_low, row_high) == pytest.approx((0.72, 0.88), abs=0.011)
    # As 10 independent draws of 0.8: the 2.5 % and 97.5 % points of Binomial(10, 0.8) / 10 are 0.5 and 1.0.
    assert (group_low, group_high) == (0.5, 1.0)


def test_a_paired_difference_cancels_what_both_get_right():
    # 200 rows: both right on 180, only the first on 10, only the second on 0, both wrong on 10.
    first = np.array([1] * 190 + [0] * 10)
    second = np.array([1] * 180 + [0] * 20)
    difference, low, high = paired_difference_interval(first, second)
    assert difference == pytest.approx(0.05)
    # Only the 10 discordant rows vary the difference: 10 / 200 with a Poisson-like spread, never below 0.
    assert 0.0 < low < 0.05 < high
    assert low == pytest.approx(0.02, abs=0.006)
    assert high == pytest.approx(0.08, abs=0.006)


def test_the_same_predictions_differ_by_exactly_nothing():
    correct = np.array([1, 0, 1, 1, 0, 1])
    assert paired_difference_interval(correct, correct) == (0.0, 0.0, 0.0)


def test_the_seed_fixes_the_interval():
    correct = np.random.default_rng(3).integers(0, 2, 300)
    assert accuracy_interval(correct, seed=1) == accuracy_interval(correct, seed=1)
